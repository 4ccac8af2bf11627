//! The stdio side of the bridge: one child process speaking newline-delimited JSON-RPC, shared
//! by every HTTP session.
//!
//! Request ids are remapped: each request forwarded to the child gets a fresh numeric id from
//! the bridge, and the child's answer is routed back to the session that asked, under the id that
//! session used, so two sessions may both send `"id": 1`. Notifications from the child are routed
//! to the session they concern (`notifications/progress` by progress token,
//! `notifications/cancelled` by request id) or to every open session stream (list changes, logs).
//! Requests from the child (sampling, elicitation) go to the open session streams; the first
//! answer is forwarded; with no session stream open they are refused at once (see
//! [`era::undeliverable_child_request`]). The child is opened once, by the bridge, in the newest
//! era it speaks ([`Stdio::open`]), and what it said then answers every client's `initialize` or
//! `server/discover`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};

use super::era::{self, ClientSide};
use crate::mcp::Era;
use crate::mcp::negotiate::{self, Discovery, Initialized};

/// The protocol version the bridge offers the child when it initializes it.
pub use crate::mcp::OFFERED_HANDSHAKE_VERSION as PROTOCOL_VERSION;

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
    /// Open `GET` streams by session, and the streams of modern requests answered as SSE (by
    /// their own key, which is never a session's).
    streams: HashMap<String, mpsc::Sender<Value>>,
    /// Handshake-era sessions, with what their client said in `initialize`.
    sessions: HashMap<String, ClientSide>,
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
    /// How the child answered the bridge's opening, once it did: the era it speaks with what
    /// it said, or its error object (a refusal is kept so clients get it at once instead of
    /// waiting for a timeout).
    opened: watch::Sender<Option<Opened>>,
}

/// The era the child speaks, with what it said when the bridge opened it.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    /// It answered `server/discover` at 2026-07-28: its result. Its connection is modern now
    /// (the SDKs lock a stdio connection to the era of its first request).
    Modern { discover: Value },
    /// It answered `initialize`: its result.
    Handshake { initialize: Value },
}

impl Child {
    pub fn era(&self) -> Era {
        match self {
            Child::Modern { .. } => Era::Modern,
            Child::Handshake { .. } => Era::Handshake,
        }
    }

    /// The child's serverInfo, whichever era told it.
    pub fn server_info(&self) -> Option<&Value> {
        match self {
            Child::Modern { discover } => discover
                .get("_meta")
                .and_then(|m| m.get(era::META_SERVER_INFO)),
            Child::Handshake { initialize } => initialize.get("serverInfo"),
        }
    }
}

/// The child's answer to the bridge's opening: `Ok(child)` or `Err(error object)`.
pub type Opened = Result<Child, Value>;

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
            opened: watch::channel(None).0,
        })
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    pub fn opened(&self) -> Option<Opened> {
        self.opened.borrow().clone()
    }

    /// Waits until the child answered the bridge's opening (or exited: `None`).
    pub async fn wait_opened(&self) -> Option<Opened> {
        let mut rx = self.opened.subscribe();
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

    pub fn open_session(&self, id: &str, client: ClientSide) {
        lock(&self.tables).sessions.insert(id.to_string(), client);
    }

    pub fn has_session(&self, id: &str) -> bool {
        lock(&self.tables).sessions.contains_key(id)
    }

    /// What a session's client said of itself (`None`: no such session).
    pub fn session_client(&self, id: &str) -> Option<ClientSide> {
        lock(&self.tables).sessions.get(id).cloned()
    }

    /// Keeps a session's `logging/setLevel` for the envelope of its requests to a modern child.
    pub fn set_log_level(&self, id: &str, level: Value) {
        if let Some(client) = lock(&self.tables).sessions.get_mut(id) {
            client.log_level = Some(level);
        }
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

    /// The stream of messages from the child for one session's `GET`, or for one modern
    /// request answered as SSE (its notifications: progress).
    pub fn subscribe(&self, key: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(256);
        lock(&self.tables).streams.insert(key.to_string(), tx);
        rx
    }

    /// Forgets a modern request's stream once it is answered.
    pub fn unsubscribe(&self, key: &str) {
        let mut t = lock(&self.tables);
        t.streams.remove(key);
        t.progress.retain(|_, s| s != key);
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

    /// Opens the child once, for every client to come, in the newest era it speaks, as the
    /// SDKs' `auto` mode does: `server/discover` at 2026-07-28 first (the 2.x SDKs answer it and
    /// lock the connection modern); any error, a result without a modern version, or no answer
    /// within a fifth of `timeout` falls back to `initialize`, which a child that locked modern
    /// late answers with `-32022`: then discover is asked once more.
    pub async fn open(&self, timeout: std::time::Duration) -> Result<Opened, StdioError> {
        if let Some(discover) = self.discover(timeout / 5).await? {
            return Ok(self.opened_as(Ok(Child::Modern { discover })));
        }
        let answer = self.request("", initialize_request(), timeout).await?;
        let refusal = match negotiate::read_initialize(&answer) {
            Initialized::Handshake(result) => {
                let initialize = result.clone();
                self.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                    .await?;
                return Ok(self.opened_as(Ok(Child::Handshake { initialize })));
            }
            Initialized::LockedModern(error) => {
                let error = error.clone();
                if let Some(discover) = self.discover(timeout).await? {
                    return Ok(self.opened_as(Ok(Child::Modern { discover })));
                }
                error
            }
            Initialized::Refused(error) => error.clone(),
            Initialized::Malformed => json!({
                "code": era::INTERNAL_ERROR,
                "message": "the MCP server answered initialize with neither result nor error",
            }),
        };
        Ok(self.opened_as(Err(refusal)))
    }

    fn opened_as(&self, opened: Opened) -> Opened {
        self.opened.send_replace(Some(opened.clone()));
        opened
    }

    /// `server/discover` at 2026-07-28: its result when it shows a modern child; `None` for
    /// anything else or no answer in time (the child is not modern, or not yet).
    async fn discover(&self, timeout: std::time::Duration) -> Result<Option<Value>, StdioError> {
        match self.request("", discover_request(), timeout).await {
            Ok(answer) => Ok(match negotiate::read_discover(Some(&answer)) {
                Discovery::Modern { result, .. } => Some(result.clone()),
                Discovery::TryHandshake | Discovery::SpeaksNoneOf(_) => None,
            }),
            Err(StdioError::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
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
                Ok(v) if v.is_object() => {
                    if let Some(refusal) = self.route(v) {
                        let _ = self.write(&refusal).await;
                    }
                }
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
        self.opened.send_modify(|_| {});
    }

    /// Sends a message of the child where it belongs; returns the answer to give the child
    /// itself when it is a request no client can take.
    fn route(&self, mut message: Value) -> Option<Value> {
        let is_response = message.get("method").is_none()
            && (message.get("result").is_some() || message.get("error").is_some());
        let mut t = lock(&self.tables);
        if is_response {
            let Some(id) = message["id"].as_u64() else {
                tracing::warn!("the server answered an id the bridge never sent");
                return None;
            };
            if let Some(p) = t.pending.remove(&id) {
                message["id"] = p.original_id;
                let _ = p.reply.send(message);
            }
            return None;
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
                    None => return None,
                }
            }
            _ => None,
        };
        if let Some(session) = target {
            if let Some(s) = t.streams.get(&session) {
                let _ = s.try_send(message);
            }
            return None;
        }
        t.streams.retain(|_, s| !s.is_closed());
        let Tables {
            streams, sessions, ..
        } = &*t;
        let open: Vec<mpsc::Sender<Value>> = streams
            .iter()
            .filter(|(key, _)| sessions.contains_key(*key))
            .map(|(_, s)| s.clone())
            .collect();
        if let Some(id) = message.get("id").cloned() {
            if open.is_empty() {
                tracing::info!(%method, "refusing a request of the server: no client can answer it");
                return Some(era::undeliverable_child_request(id, &method));
            }
            for s in &open {
                let _ = s.try_send(message.clone());
            }
            t.child_requests.insert(id.to_string(), ());
            return None;
        }
        if open.is_empty() {
            tracing::debug!(%method, "no open session stream for a message of the server");
        }
        for s in open {
            let _ = s.try_send(message.clone());
        }
        None
    }
}

/// The name the bridge gives itself to its child.
const CLIENT: &str = "mcp-runtime-bridge";

fn initialize_request() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
           "params": negotiate::initialize_params(CLIENT)})
}

fn discover_request() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover",
           "params": negotiate::discover_params(CLIENT)})
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
