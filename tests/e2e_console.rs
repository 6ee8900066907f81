//! End-to-end: the embedded console is served, names its script and styles,
//! and its script is the one in the repository.

mod support;

use support::{Server, http_get};

#[tokio::test]
async fn the_console_and_its_files_are_served_from_the_binary() {
    let server = Server::start(&[]);
    let (status, html) = http_get(&server.http, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("/console/app.js") && html.contains("/console/style.css"),
        "{html}"
    );
    let (status, js) = http_get(&server.http, "/console/app.js").await;
    assert_eq!(status, 200);
    assert_eq!(js, include_str!("../console/app.js"));
    let (status, css) = http_get(&server.http, "/console/style.css").await;
    assert_eq!(status, 200);
    assert!(css.contains(".board"));
}
