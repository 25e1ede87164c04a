//! Headless Chromium driven through ChromeDriver's W3C WebDriver HTTP API (Debian's
//! `chromium` and `chromium-driver`; `.ci/run` installs them).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

use crate::{free_port, wait_for_port};

/// The W3C key naming an element in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process with one headless Chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: tempdir::Dir,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A PNG screenshot, decoded to RGBA.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Picture {
    /// Pixels within `tolerance` (per channel) of any of `colors`.
    pub fn count_near(&self, colors: &[[u8; 3]], tolerance: u8) -> usize {
        self.rgba
            .chunks_exact(4)
            .filter(|p| {
                colors
                    .iter()
                    .any(|c| (0..3).all(|i| p[i].abs_diff(c[i]) <= tolerance))
            })
            .count()
    }
}

mod tempdir {
    /// A fresh directory, removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "{name}-{}-{:x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session.
    pub async fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (.ci/run installs chromium-driver)");
        wait_for_port(port);
        let profile = tempdir::Dir::new("rallypoint-chromium");
        let http = reqwest::Client::new();
        // Flags: no sandbox (tests may run as root), and no background connections (the
        // machine has no outside network; Chromium's own requests would only fail).
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1100",
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            },
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Self {
            driver,
            http,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body) in the page; returns what it returns.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The rows of the table body matched by `rows` (a CSS selector such as `#modes tr`), each
    /// as the text of its first `cells` cells joined by spaces.
    pub async fn row_texts(&self, rows: &str, cells: usize) -> Value {
        self.eval(&format!(
            "return [...document.querySelectorAll({rows:?})].map((tr) => \
             [...tr.cells].slice(0, {cells}).map((c) => c.textContent).join(' '))"
        ))
        .await
    }

    /// Evaluates `script` every 100 ms until it returns something truthy (returned), for at
    /// most `limit`.
    pub async fn wait_for(&self, script: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(script).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(
                started.elapsed() < limit,
                "waited {limit:?} for `{script}`; last {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        Element(
            v[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element for {css}: {v}"))
                .to_string(),
        )
    }

    /// Clicks an element.
    pub async fn click(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// A screenshot of the whole window, PNG.
    pub async fn page_png(&self) -> Vec<u8> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    /// A screenshot of one element, as the browser rendered it.
    pub async fn screenshot(&self, element: &Element) -> Picture {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/screenshot", element.0),
                None,
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        let rgba = match info.color_type {
            png::ColorType::Rgba => buf,
            png::ColorType::Rgb => buf
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            other => panic!("unexpected screenshot colour type {other:?}"),
        };
        Picture {
            width: info.width,
            height: info.height,
            rgba,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session ends Chromium (killing only the driver could leave it running).
        // Plain blocking HTTP: drop may run outside any async runtime, or during a panic.
        let url = self.session.trim_start_matches("http://");
        if let Some((host, path)) = url.split_once('/') {
            use std::io::{Read, Write};
            if let Ok(mut tcp) = std::net::TcpStream::connect(host) {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    tcp,
                    "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = tcp.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
