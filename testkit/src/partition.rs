//! A network partition between a test's processes, made for real with a TCP proxy.

/// A TCP proxy on loopback in front of a port that can cut every connection through it and
/// refuse new ones (a network partition between one process and, say, Redis), then heal.
pub struct Partition {
    /// Where to connect instead of the target.
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Partition {
    /// Starts proxying to `target` (a loopback port).
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(Self::serve(listener, target, watch));
        Self { port, cut }
    }

    /// Accepts and proxies until cut; while cut, nothing listens (connections are refused);
    /// once healed, listens on the same port again.
    async fn serve(
        mut listener: tokio::net::TcpListener,
        target: u16,
        mut watch: tokio::sync::watch::Receiver<bool>,
    ) {
        let port = listener.local_addr().unwrap().port();
        let connections = watch.clone();
        loop {
            let cut = tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut inbound, _)) = accepted else { return };
                    let mut watch = connections.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = watch.wait_for(|cut| *cut) => {}
                        }
                    });
                    false
                }
                _ = watch.wait_for(|cut| *cut) => true,
            };
            if cut {
                drop(listener);
                if watch.wait_for(|cut| !*cut).await.is_err() {
                    return;
                }
                listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
            }
        }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}
