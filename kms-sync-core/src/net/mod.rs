//! Which addresses a URL that a tenant names may reach: [`UrlPolicy`] (HTTPS, no userinfo,
//! public addresses only, an explicit [`AllowEntry`] list for on-premises servers and
//! fakes), the address classes behind it ([`AddressClass`]), and name resolution
//! ([`Lookup`]). One policy for every URL a connection or a definition names: the fleet's
//! registry checks it when a connection is stored, and an
//! [`HttpClient`](crate::http::HttpClient) built with it checks it again at connect time.

mod address;
mod lookup;
mod policy;

pub use address::{is_loopback_url, AddressClass};
pub use lookup::{Lookup, SystemLookup, UrlGuard};
pub use policy::{AllowEntry, UrlPolicy};

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::IpAddr;

    use super::*;
    use crate::error::ErrorKind;

    /// A resolver that answers fixed addresses, in order.
    struct Fixed(Vec<IpAddr>);

    #[async_trait::async_trait]
    impl Lookup for Fixed {
        async fn lookup(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter()
            .map(|s| s.parse().expect("an address"))
            .collect()
    }

    #[test]
    fn literal_addresses_in_every_form_are_classified() {
        let policy = UrlPolicy::public_only();
        let refused = [
            "https://127.0.0.1/",
            "https://2130706433/",     // decimal 127.0.0.1
            "https://0177.0.0.1/",     // octal
            "https://0x7f.0x0.0x0.1/", // hex
            "https://0x7f000001/",     // one hex number
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:7f00:1]/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://10.0.0.1/",
            "https://100.64.1.1/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://localhost/",
            "https://api.localhost/",
        ];
        for url in refused {
            let err = policy.check_url_str(url).expect_err(url);
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains("refused"), "{url}: {err}");
        }
        for url in [
            "https://8.8.8.8/",
            "https://[2606:4700:4700::1111]/",
            "https://octopus.example.com/",
        ] {
            assert!(policy.check_url_str(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn userinfo_and_plain_http_are_refused_and_never_echoed() {
        let policy = UrlPolicy::public_only();
        let err = policy
            .check_url_str("https://admin:hunter2secret@octopus.example.com/api")
            .expect_err("userinfo");
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("hunter2secret") && !text.contains("admin"),
            "{text}"
        );
        assert!(policy.check_url_str("http://octopus.example.com/").is_err());
        assert!(policy.check_url_str("ftp://octopus.example.com/").is_err());
    }

    #[test]
    fn the_allowlist_allows_exactly_its_host_and_port() -> crate::Result<()> {
        let policy = UrlPolicy::public_only().allow("http://127.0.0.1:8080".parse()?);
        assert!(policy.check_url_str("http://127.0.0.1:8080/api").is_ok());
        assert!(policy.check_url_str("https://127.0.0.1:8080/api").is_ok());
        assert!(policy.check_url_str("http://127.0.0.1:5432/").is_err());
        assert!(policy.check_url_str("https://127.0.0.1/").is_err());
        let https_only = UrlPolicy::public_only().allow("octopus.corp:8443".parse()?);
        assert!(https_only
            .check_url_str("https://octopus.corp:8443/")
            .is_ok());
        assert!(https_only
            .check_url_str("http://octopus.corp:8443/")
            .is_err());
        let network = UrlPolicy::public_only().allow("10.20.0.0/16".parse()?);
        assert!(network.check_url_str("https://10.20.1.2/").is_ok());
        assert!(network.check_url_str("https://10.21.1.2/").is_err());
        assert!(network.check_url_str("http://10.20.1.2/").is_err());
        for bad in ["127.0.0.1", "ftp://h:1", "h:1/path", "not a host:port"] {
            assert!(bad.parse::<AllowEntry>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_name_is_refused_if_any_address_is_not_public() -> crate::Result<()> {
        let policy = UrlPolicy::public_only();
        let rebinding = Fixed(ips(&["8.8.8.8", "10.0.0.7"]));
        let err = policy
            .resolve("evil.example.com", 443, &rebinding)
            .await
            .expect_err("second address private");
        assert!(err.to_string().contains("private"), "{err}");
        assert!(!err.to_string().contains("10.0.0.7"), "{err}");
        let public = Fixed(ips(&["8.8.8.8", "2606:4700:4700::1111"]));
        let addrs = policy.resolve("good.example.com", 443, &public).await?;
        assert_eq!(addrs.len(), 2);
        assert!(addrs.iter().all(|a| a.port() == 443));
        let metadata = Fixed(ips(&["::ffff:169.254.169.254"]));
        assert!(policy
            .resolve("meta.example.com", 443, &metadata)
            .await
            .is_err());
        let allowed = UrlPolicy::public_only().allow("10.0.0.0/8".parse()?);
        assert!(allowed.resolve("corp", 443, &rebinding).await.is_ok());
        Ok(())
    }
}
