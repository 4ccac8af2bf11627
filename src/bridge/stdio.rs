//! The stdio side of the bridge: one child process speaking newline-delimited JSON-RPC, shared
//! by every HTTP session.
//!
//! Request ids are remapped: each request forwarded to the child gets a fresh numeric id from
//! the bridge, and the child's answer is routed back to the session that asked, under the id that
//! session used, so two sessions may both send `"id": 1`. Notifications from the child are routed
//! to the session they concern (`notifications/progress` by progress token,
//! `notifications/cancelled` by request id) or to every open session stream (list changes, logs).
//! Requests from the child (sampling, elicitation) go to the open streams; the first answer is
//! forwarded. The child is initialized once, by the bridge, and its `initialize` result answers
//! every session's `initialize`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};

/// The protocol version the bridge offers the child when it initializes it.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Longest stdout line accepted from the child (a larger one is skipped, not buffered forever).
const MAX_LINE: usize = 16 << 20;

struct Pending {
    session: String,
    original_id: Value,
    reply: oneshot::Sender<Value>,
}

#[derive(Default)]
struct Tables {
    pending: HashMap<u64, Pending>,
    /// Open `GET` streams by session.
    streams: HashMap<String, mpsc::Sender<Value>>,
    sessions: HashMap<String, ()>,
    /// progress token (as JSON text) → session.
    progress: HashMap<String, String>,
    /// Requests from the child that are still unanswered (their ids as JSON text).
    child_requests: HashMap<String, ()>,
}

pub struct Stdio {
    stdin: tokio::sync::Mutex<ChildStdin>,
    next_id: AtomicU64,
    tables: Mutex<Tables>,
    alive: AtomicBool,
    /// The child's answer to `initialize`, once it answered: its result, or its error object
    /// (a refusal is kept so sessions get it at once instead of waiting for a timeout).
    initialized: watch::Sender<Option<Initialized>>,
}

/// The child's answer to the bridge's `initialize`: `Ok(result)` or `Err(error object)`.
pub type Initialized = Result<Value, Value>;

/// Why a request got no answer from the child.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("the MCP server process has exited")]
    Exited,
    #[error("the MCP server did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("writing to the MCP server failed: {0}")]
    Write(std::io::Error),
}

fn lock(m: &Mutex<Tables>) -> std::sync::MutexGuard<'_, Tables> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stdio {
    pub fn new(stdin: ChildStdin) -> Arc<Stdio> {
        Arc::new(Stdio {
            stdin: tokio::sync::Mutex::new(stdin),
            next_id: AtomicU64::new(1),
            tables: Mutex::new(Tables::default()),
            alive: AtomicBool::new(true),
            initialized: watch::channel(None).0,
        })
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    pub fn initialize_result(&self) -> Option<Initialized> {
        self.initialized.borrow().clone()
    }

    /// Waits until the child answered the bridge's `initialize` (or exited: `None`).
    pub async fn wait_initialized(&self) -> Option<Initialized> {
        let mut rx = self.initialized.subscribe();
        loop {
            if let Some(v) = rx.borrow_and_update().clone() {
                return Some(v);
            }
            if !self.alive() {
                return None;
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    async fn write(&self, message: &Value) -> Result<(), StdioError> {
        if !self.alive() {
            return Err(StdioError::Exited);
        }
        let mut line = serde_json::to_vec(message).unwrap_or_default();
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(&line).await.map_err(StdioError::Write)?;
        stdin.flush().await.map_err(StdioError::Write)
    }

    pub fn open_session(&self, id: &str) {
        lock(&self.tables).sessions.insert(id.to_string(), ());
    }

    pub fn has_session(&self, id: &str) -> bool {
        lock(&self.tables).sessions.contains_key(id)
    }

    /// Ends a session: its stream closes and its pending requests are cancelled in the child.
    pub async fn close_session(&self, id: &str) {
        let cancelled: Vec<u64> = {
            let mut t = lock(&self.tables);
            t.sessions.remove(id);
            t.streams.remove(id);
            t.progress.retain(|_, s| s != id);
            let ids: Vec<u64> = t
                .pending
                .iter()
                .filter(|(_, p)| p.session == id)
                .map(|(k, _)| *k)
                .collect();
            for k in &ids {
                t.pending.remove(k);
            }
            ids
        };
        for k in cancelled {
            let _ = self.write(&cancel_notification(k, "session closed")).await;
        }
    }

    /// The stream of messages from the child for one session's `GET`.
    pub fn subscribe(&self, session: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(256);
        lock(&self.tables).streams.insert(session.to_string(), tx);
        rx
    }

    /// Forwards a request of `session` and waits for the child's answer, which comes back with
    /// the session's own id. Dropping the future (the HTTP client went away) cancels the request
    /// in the child.
    pub async fn request(
        &self,
        session: &str,
        mut message: Value,
        timeout: std::time::Duration,
    ) -> Result<Value, StdioError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let original_id = message["id"].take();
        message["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        {
            let mut t = lock(&self.tables);
            if let Some(token) = message.pointer("/params/_meta/progressToken") {
                t.progress.insert(token.to_string(), session.to_string());
            }
            t.pending.insert(
                id,
                Pending {
                    session: session.to_string(),
                    original_id,
                    reply: tx,
                },
            );
        }
        let mut guard = CancelOnDrop {
            stdio: self,
            id,
            armed: true,
        };
        self.write(&message).await?;
        let answer = tokio::time::timeout(timeout, rx).await;
        guard.armed = matches!(answer, Err(_) | Ok(Err(_)));
        match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(StdioError::Exited),
            Err(_) => Err(StdioError::Timeout(timeout)),
        }
    }

    /// Forwards a notification or a response of a client. Cancellations are mapped onto the
    /// bridge's id of the request; answers to the child's own requests go through once.
    pub async fn forward(&self, session: &str, mut message: Value) -> Result<(), StdioError> {
        if message["method"] == "notifications/cancelled" {
            let wanted = message.pointer("/params/requestId").cloned();
            let mapped = {
                let t = lock(&self.tables);
                t.pending
                    .iter()
                    .find(|(_, p)| p.session == session && Some(&p.original_id) == wanted.as_ref())
                    .map(|(k, _)| *k)
            };
            match mapped {
                Some(k) => message["params"]["requestId"] = json!(k),
                None => return Ok(()),
            }
        } else if message.get("method").is_none() {
            let key = message["id"].to_string();
            if lock(&self.tables).child_requests.remove(&key).is_none() {
                return Ok(());
            }
        }
        self.write(&message).await
    }

    /// Initializes the child once, for every session to come.
    pub async fn initialize(&self, timeout: std::time::Duration) -> Result<Value, StdioError> {
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcp-runtime-bridge", "version": env!("CARGO_PKG_VERSION")},
            }
        });
        let answer = self.request("", init, timeout).await?;
        if let Some(result) = answer.get("result") {
            self.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await?;
            self.initialized.send_replace(Some(Ok(result.clone())));
        } else {
            let error = answer.get("error").cloned().unwrap_or_else(
                || json!({"code": -32603, "message": "the MCP server answered initialize with neither result nor error"}),
            );
            self.initialized.send_replace(Some(Err(error)));
        }
        Ok(answer)
    }

    /// Reads the child's stdout until it closes, routing every message. Lines that are not
    /// JSON are logged (cut short) and skipped.
    pub async fn read(self: Arc<Self>, stdout: ChildStdout) {
        let mut reader = BufReader::with_capacity(64 << 10, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) => break,
                Ok(_) if line.len() > MAX_LINE && !line.ends_with(b"\n") => {
                    tracing::warn!(
                        bytes = line.len(),
                        "skipping an over-long line on the server's stdout"
                    );
                    // Drain the rest of that line.
                    let mut rest = Vec::new();
                    let _ = reader.read_until(b'\n', &mut rest).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading the server's stdout failed");
                    break;
                }
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(text) {
                Ok(v) if v.is_object() => self.route(v),
                _ => {
                    let cut: String = text.chars().take(200).collect();
                    tracing::warn!(line = %cut, "skipping a non-JSON-RPC line on the server's stdout");
                }
            }
        }
        self.alive.store(false, Ordering::SeqCst);
        // Every waiting request learns at once; nothing waits for a dead process.
        let mut t = lock(&self.tables);
        t.pending.clear();
        t.streams.clear();
        drop(t);
        self.initialized.send_modify(|_| {});
    }

    fn route(&self, mut message: Value) {
        let is_response = message.get("method").is_none()
            && (message.get("result").is_some() || message.get("error").is_some());
        let mut t = lock(&self.tables);
        if is_response {
            let Some(id) = message["id"].as_u64() else {
                tracing::warn!("the server answered an id the bridge never sent");
                return;
            };
            if let Some(p) = t.pending.remove(&id) {
                message["id"] = p.original_id;
                let _ = p.reply.send(message);
            }
            return;
        }
        let method = message["method"].as_str().unwrap_or_default().to_string();
        let target = match method.as_str() {
            "notifications/progress" => message
                .pointer("/params/progressToken")
                .and_then(|tok| t.progress.get(&tok.to_string()).cloned()),
            "notifications/cancelled" => {
                let id = message.pointer("/params/requestId").and_then(Value::as_u64);
                match id.and_then(|id| t.pending.get(&id)) {
                    Some(p) => {
                        let (session, original) = (p.session.clone(), p.original_id.clone());
                        message["params"]["requestId"] = original;
                        Some(session)
                    }
                    None => return,
                }
            }
            _ => None,
        };
        if message.get("id").is_some() {
            t.child_requests.insert(message["id"].to_string(), ());
        }
        match target {
            Some(session) => {
                if let Some(s) = t.streams.get(&session) {
                    let _ = s.try_send(message);
                }
            }
            None => {
                if t.streams.is_empty() {
                    tracing::debug!(%method, "no open session stream for a message of the server");
                }
                t.streams.retain(|_, s| !s.is_closed());
                for s in t.streams.values() {
                    let _ = s.try_send(message.clone());
                }
            }
        }
    }
}

fn cancel_notification(id: u64, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
           "params": {"requestId": id, "reason": reason}})
}

/// Cancels a forwarded request in the child when its HTTP request goes away unanswered.
struct CancelOnDrop<'a> {
    stdio: &'a Stdio,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let removed = lock(&self.stdio.tables).pending.remove(&self.id).is_some();
        if self.armed && removed && self.stdio.alive() {
            // Best effort, off the dropping task; a full pipe must not block a drop.
            let message = cancel_notification(self.id, "the client went away");
            if let Ok(mut stdin) = self.stdio.stdin.try_lock() {
                let mut line = serde_json::to_vec(&message).unwrap_or_default();
                line.push(b'\n');
                let _ = futures::FutureExt::now_or_never(stdin.write_all(&line));
            }
        }
    }
}
