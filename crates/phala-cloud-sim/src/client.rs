//! The facade's client for a running simulator (feature `client`).

use crate::SimHandle;

impl SimHandle {
    /// A [`phala_cloud::ClientBuilder`] for this simulator: its URL and the
    /// main workspace's key, everything else as in production (API version,
    /// retries, timeouts), to change before `build()`.
    pub fn client_builder(&self) -> phala_cloud::ClientBuilder {
        phala_cloud::Client::builder()
            .base_url(self.base_url())
            .api_key(self.api_key())
    }

    /// A [`phala_cloud::Client`] for this simulator ([`Self::client_builder`],
    /// built).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sim = phala_cloud_sim::Simulator::builder().cvms(3).start().await?;
    /// let client = sim.client()?;
    /// assert_eq!(client.list_cvms(&Default::default()).await?.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> Result<phala_cloud::Client, phala_cloud::Error> {
        self.client_builder().build()
    }
}
