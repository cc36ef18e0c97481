//! The fakes' record of overlapping writes (testkit `Faults::track_overlapping_writes`),
//! which the crash tests rely on to prove no sync ran twice at once: it must see two writes
//! to one repository in flight together, and must not see writes that follow each other or
//! go to different repositories.

use std::time::Duration;

use kms_sync_bitbucket::fake::FakeBitbucket;

async fn write(base: &str, repository: &str) {
    let url = format!("{base}/2.0/repositories/acme/{repository}/pipelines_config/variables/");
    // Unauthenticated: refused, but a write the fake answered all the same.
    let _ = reqwest::Client::new().post(url).body("{}").send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writes_in_flight_to_one_scope_are_recorded_and_others_are_not() {
    let fake = FakeBitbucket::start().await;
    fake.faults().set_latency(Duration::from_millis(300));
    fake.faults().track_overlapping_writes(4);
    let base = fake.base_url();

    write(&base, "one").await;
    write(&base, "one").await;
    tokio::join!(write(&base, "one"), write(&base, "two"));
    assert!(
        fake.faults().overlapping_writes().is_empty(),
        "{:?}",
        fake.faults().overlapping_writes()
    );

    tokio::join!(write(&base, "one"), write(&base, "one"));
    assert_eq!(
        fake.faults().overlapping_writes(),
        ["/2.0/repositories/acme/one"]
    );
}
