//! Egress proxies on loopback, as an operator's would be: HTTP CONNECT and
//! SOCKS5, each telling the test which destinations it was asked for.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A proxy and what it was asked to reach (`host:port` as sent).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    asked: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Connect,
    Socks5,
    /// Answers anything with 200 and reaches nothing: what a proxy picked
    /// up from the environment would do to a blocked destination.
    AnswersEverything,
}

impl Proxy {
    pub(crate) async fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = match kind {
                        Kind::Connect => connect(socket, tx).await,
                        Kind::Socks5 => socks5(socket, tx).await,
                        Kind::AnswersEverything => answer(socket, tx).await,
                    };
                });
            }
        });
        Self {
            addr,
            asked: tokio::sync::Mutex::new(rx),
        }
    }

    pub(crate) fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// What it was asked for so far.
    pub(crate) async fn asked(&self) -> Vec<String> {
        let mut asked = self.asked.lock().await;
        std::iter::from_fn(|| asked.try_recv().ok()).collect()
    }
}

async fn connect(socket: TcpStream, asked: mpsc::UnboundedSender<String>) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let target = line
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await?;
        if header == "\r\n" || header.is_empty() {
            break;
        }
    }
    let _ = asked.send(target.clone());
    let mut socket = reader.into_inner();
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        socket
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            .await?;
        return Ok(());
    };
    socket
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut socket, &mut upstream).await?;
    Ok(())
}

async fn socks5(
    mut socket: TcpStream,
    asked: mpsc::UnboundedSender<String>,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    socket.read_exact(&mut methods).await?;
    socket.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    socket.read_exact(&mut request).await?;
    let target = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            socket.read_exact(&mut ip).await?;
            std::net::IpAddr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            socket.read_exact(&mut ip).await?;
            format!("[{}]", std::net::IpAddr::from(ip))
        }
        _ => {
            let mut len = [0u8; 1];
            socket.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            socket.read_exact(&mut name).await?;
            format!("name:{}", String::from_utf8_lossy(&name))
        }
    };
    let mut port = [0u8; 2];
    socket.read_exact(&mut port).await?;
    let target = format!("{target}:{}", u16::from_be_bytes(port));
    let _ = asked.send(target.clone());
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        socket.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    socket.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut socket, &mut upstream).await?;
    Ok(())
}

async fn answer(socket: TcpStream, asked: mpsc::UnboundedSender<String>) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let _ = asked.send(line.trim().to_owned());
    reader
        .into_inner()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        .await
}
