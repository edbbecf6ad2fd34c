//! A minimal client of `evr lsp` over stdio, the way an editor drives it: what the
//! language server's tests and its benchmark use. Messages are framed by `lsp-server`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::{Value, json};

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Message>,
    next_id: i32,
    /// How long one answer may take before the client gives up (a hung server must not hang
    /// whoever drives it).
    pub patience: Duration,
    /// The diagnostics last published, per URI, and how many times any were.
    pub diagnostics: BTreeMap<String, Value>,
    pub published: usize,
}

/// The `file:` URI the server uses for a path.
pub fn uri(path: &Path) -> String {
    crate::convert::uri(path).as_str().to_owned()
}

impl Client {
    /// Starts `binary lsp` in `root` and initializes it.
    pub fn start(binary: &Path, root: &Path) -> Result<Client, String> {
        let mut child = Command::new(binary)
            .arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{} lsp does not start: {e}", binary.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Ok(Some(message)) = Message::read(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            incoming,
            next_id: 0,
            patience: Duration::from_secs(30),
            diagnostics: BTreeMap::new(),
            published: 0,
        };
        let init =
            client.request("initialize", json!({ "processId": null, "rootUri": uri(root), "capabilities": {} }))?;
        if init["capabilities"]["hoverProvider"] != json!(true) {
            return Err(format!("unexpected capabilities: {init}"));
        }
        client.notify("initialized", json!({}))?;
        Ok(client)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, message: Message) -> Result<(), String> {
        message.write(&mut self.stdin).map_err(|e| format!("the server does not read: {e}"))
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Result<(), String> {
        self.send(Message::Notification(Notification { method: method.to_owned(), params }))
    }

    /// Sends a request and waits for its answer; an error answer is `{"error": message}`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Message::Request(Request { id: id.clone(), method: method.to_owned(), params }))?;
        let deadline = Instant::now() + self.patience;
        loop {
            match self.next(deadline, method)? {
                Message::Response(r) if r.id == id => {
                    return Ok(match r.error {
                        Some(e) => json!({ "error": e.message }),
                        None => r.result.unwrap_or(Value::Null),
                    });
                }
                other => self.take(other),
            }
        }
    }

    /// Waits until diagnostics are published again (after `published` reached `seen`).
    pub fn wait_published(&mut self, seen: usize) -> Result<(), String> {
        let deadline = Instant::now() + self.patience;
        while self.published <= seen {
            let m = self.next(deadline, "publishDiagnostics")?;
            self.take(m);
        }
        Ok(())
    }

    fn next(&mut self, deadline: Instant, waiting_for: &str) -> Result<Message, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.incoming.recv_timeout(left).map_err(|e| match e {
            RecvTimeoutError::Timeout => format!("no {waiting_for} within {:?}", self.patience),
            RecvTimeoutError::Disconnected => format!("the server exited before {waiting_for}"),
        })
    }

    fn take(&mut self, message: Message) {
        if let Message::Notification(n) = message
            && n.method == "textDocument/publishDiagnostics"
        {
            let uri = n.params["uri"].as_str().unwrap_or_default().to_owned();
            self.diagnostics.insert(uri, n.params["diagnostics"].clone());
            self.published += 1;
        }
    }

    /// `exit` without `shutdown` first, and the server's exit status.
    pub fn exit_now(mut self) -> Result<i32, String> {
        self.notify("exit", Value::Null)?;
        drop(self.stdin);
        let status = self.child.wait().map_err(|e| e.to_string())?;
        Ok(status.code().unwrap_or(-1))
    }

    /// `shutdown`, `exit`, and the server's exit status.
    pub fn stop(mut self) -> Result<i32, String> {
        let answer = self.request("shutdown", Value::Null)?;
        if answer != Value::Null {
            return Err(format!("shutdown answered {answer}"));
        }
        self.notify("exit", Value::Null)?;
        drop(self.stdin);
        let status = self.child.wait().map_err(|e| e.to_string())?;
        Ok(status.code().unwrap_or(-1))
    }
}
