//! Fetching against local servers (no outside network exists here).

use std::io::{Read, Write};
use std::time::Duration;

use httpmock::prelude::*;
use phala_cloud_spec::fetch::fetch;

const DOC: &str = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}"#;

#[tokio::test]
async fn ok_404_html_huge_and_slow() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/ok.json");
            then.status(200).header("content-type", "application/json").body(DOC);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/missing.json");
            then.status(404).body("nope");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/login");
            then.status(200)
                .header("content-type", "text/html")
                .body("<!DOCTYPE html><html>sign in</html>");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/slow.json");
            then.status(200).delay(Duration::from_secs(3)).body(DOC);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/huge.json");
            then.status(200)
                .body(vec![b' '; phala_cloud_spec::fetch::MAX_DOCUMENT_BYTES + 1]);
        })
        .await;
    let t = Duration::from_secs(1);
    let e = fetch(&server.url("/huge.json"), Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("larger than 33554432 bytes"), "{e}");
    let doc = fetch(&server.url("/ok.json"), t).await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let e = fetch(&server.url("/missing.json"), t).await.unwrap_err().to_string();
    assert!(e.ends_with("HTTP 404 Not Found"), "{e}");
    let e = fetch(&server.url("/login"), t).await.unwrap_err().to_string();
    assert!(e.ends_with("got an HTML page instead of JSON"), "{e}");
    let e = fetch(&server.url("/slow.json"), t).await.unwrap_err().to_string();
    assert!(e.contains("no complete answer within"), "{e}");
    let e = fetch("http://127.0.0.1:9/openapi.json", t)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("cannot connect"), "{e}");
}

#[tokio::test]
async fn a_truncated_body_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = &DOC.as_bytes()[..20];
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    DOC.len()
                )
                .as_bytes(),
            );
            let _ = s.write_all(body);
        }
    });
    let e = fetch(&format!("http://{addr}/openapi.json"), Duration::from_secs(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("transfer failed") || e.contains("not JSON"), "{e}");
}
