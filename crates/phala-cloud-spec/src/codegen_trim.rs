//! What progenitor puts in every request that the service does not read.
//!
//! Each generated `send` builds a header map holding `api-version` (the
//! document's `info.version`): the service versions by `X-Phala-Version`
//! and ignores it, yet it cost every request a map allocation, a header on
//! the wire and, before this pass, a removal in the transport hooks (about
//! 2% of a raw call; BENCHMARKS.md scenario 1). The statement is dropped
//! from the generated code and the map sized for what remains.

use quote::ToTokens;
use syn::visit_mut::VisitMut;

/// Removes the `api-version` header from every generated request; returns
/// how many requests had it.
pub(crate) fn drop_api_version_header(file: &mut syn::File) -> usize {
    let mut pass = Pass { dropped: 0 };
    pass.visit_file_mut(file);
    pass.dropped
}

struct Pass {
    dropped: usize,
}

/// `header_map.append(HeaderName::from_static("api-version"), ..);`
fn is_api_version_append(stmt: &syn::Stmt) -> bool {
    let syn::Stmt::Expr(syn::Expr::MethodCall(call), Some(_)) = stmt else {
        return false;
    };
    call.method == "append"
        && call.receiver.to_token_stream().to_string() == "header_map"
        && call
            .args
            .first()
            .is_some_and(|a| a.to_token_stream().to_string().contains("\"api-version\""))
}

/// In `let mut header_map = HeaderMap::with_capacity(N);`, N less one.
fn shrink_capacity(stmt: &mut syn::Stmt) -> bool {
    let syn::Stmt::Local(local) = stmt else { return false };
    if local.pat.to_token_stream().to_string() != "mut header_map" {
        return false;
    }
    let Some(syn::Expr::Call(call)) = local.init.as_mut().map(|i| &mut *i.expr) else {
        return false;
    };
    let Some(syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(n), ..
    })) = call.args.first_mut()
    else {
        return false;
    };
    match n.base10_parse::<usize>() {
        Ok(v) if v > 0 => {
            *n = syn::LitInt::new(&format!("{}usize", v - 1), n.span());
            true
        }
        _ => false,
    }
}

impl VisitMut for Pass {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let before = block.stmts.len();
        block.stmts.retain(|s| !is_api_version_append(s));
        if block.stmts.len() < before {
            self.dropped += 1;
            for stmt in &mut block.stmts {
                if shrink_capacity(stmt) {
                    break;
                }
            }
        }
        syn::visit_mut::visit_block_mut(self, block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_goes_and_the_map_shrinks() {
        let mut file: syn::File = syn::parse_quote! {
            async fn send() {
                let mut header_map = ::reqwest::header::HeaderMap::with_capacity(2usize);
                header_map.append(
                    ::reqwest::header::HeaderName::from_static("api-version"),
                    ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
                );
                header_map.append(::reqwest::header::HeaderName::from_static("x-other"), value);
            }
        };
        assert_eq!(drop_api_version_header(&mut file), 1);
        let code = file.to_token_stream().to_string();
        assert!(!code.contains("api-version"), "{code}");
        assert!(code.contains("with_capacity (1usize)"), "{code}");
        assert!(code.contains("x-other"), "{code}");
    }
}
