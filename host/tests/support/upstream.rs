//! A small HTTP/1.1 server on 127.0.0.1 that outbound tests call, recording the paths it gets.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers `/ok` with 200 `hello`, `/redirect` with 302 to another port, `/slow` with 200 after
/// one second, and anything else with 404.
pub struct Upstream {
    pub address: SocketAddr,
    pub paths: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let paths = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn({
            let paths = paths.clone();
            move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { break };
                    let paths = paths.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut request = Vec::new();
                        let mut buffer = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                            match stream.read(&mut buffer) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buffer[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&request);
                        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                        paths.lock().unwrap().push(path.clone());
                        let response = match path.as_str() {
                            "/ok" => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_owned(),
                            "/redirect" => "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                            "/slow" => {
                                std::thread::sleep(Duration::from_secs(1));
                                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow".to_owned()
                            }
                            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                        };
                        let _ = stream.write_all(response.as_bytes());
                    });
                }
            }
        });
        Self { address, paths }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn received(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}
