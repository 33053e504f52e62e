//! TXT lookups against a real name server (Debian's dnsmasq) of the test's
//! own.

use std::time::Duration;

use orgman_dns::DnsTxt;
use orgman_domain::ports::TxtResolver;
use orgman_testkit::PrivateDns;

#[tokio::test]
async fn published_records_are_seen_at_once_and_missing_ones_are_empty() {
    let dns = PrivateDns::start();
    let resolver = DnsTxt::new(&[dns.address()], Duration::from_secs(2)).unwrap();
    let name = "_orgman-challenge.acme.example";
    assert_eq!(resolver.txt(name).await.unwrap(), Vec::<String>::new());
    dns.publish(name, "orgman-verification=abc");
    dns.publish(name, "another value");
    let mut found = resolver.txt(name).await.unwrap();
    found.sort();
    assert_eq!(found, vec!["another value", "orgman-verification=abc"]);
    // A trailing dot, or none: the same name, never a search domain.
    assert_eq!(resolver.txt(&format!("{name}.")).await.unwrap().len(), 2);
    assert!(
        resolver
            .txt("_orgman-challenge.other.example")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_name_server_that_does_not_answer_is_an_error_not_an_empty_answer() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let resolver = DnsTxt::new(&[port], Duration::from_millis(300)).unwrap();
    assert!(
        resolver
            .txt("_orgman-challenge.acme.example")
            .await
            .is_err()
    );
}
