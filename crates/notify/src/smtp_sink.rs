//! A local SMTP sink (hộp thư giả lập) for the tests and the demo — **not a mail server**: it
//! accepts every message on a loopback port, delivers nothing onwards, and keeps what it got.
//!
//! It speaks enough SMTP for a real client (`lettre` here): EHLO/HELO, AUTH PLAIN/LOGIN (any
//! credentials are accepted and remembered), MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT; STARTTLS is refused. Tests can make it answer the next N deliveries with
//! `451 4.3.0` (temporary failure, for retry tests) or refuse a recipient with `550 5.1.1`.
//! Each message is kept raw and decoded (RFC 2047 headers, quoted-printable or base64 bodies,
//! `multipart/alternative`) so a test can read its subject and text. With a spool directory
//! it also writes each message as an `.eml` file.

use base64::Engine;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Largest message accepted (bytes).
const MAX_MESSAGE: usize = 25 * 1024 * 1024;

/// A message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// `MAIL FROM` address.
    pub envelope_from: String,
    /// `RCPT TO` addresses.
    pub envelope_to: Vec<String>,
    /// The user name given with AUTH, if any.
    pub auth_user: Option<String>,
    /// The message as transmitted, dot-unstuffed, CRLF line ends.
    pub raw: String,
    /// Headers, unfolded, values RFC 2047-decoded, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded `Subject`.
    pub subject: String,
    /// The decoded `text/plain` body (the first one).
    pub text: String,
    /// The decoded `text/html` body, if any.
    pub html: Option<String>,
}

impl ReceivedMail {
    /// The first header with this name (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    fail_next: usize,
    temporary_failures: usize,
    rejected_recipients: HashSet<String>,
    spool: Option<PathBuf>,
}

struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Start on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Start on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let s = s.clone();
                        tokio::spawn(async move {
                            if let Err(e) = session(stream, s).await {
                                tracing::debug!(error = %e, "smtp sink session ended");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "smtp sink accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// Also write each accepted message to `dir` as `<n>.eml`.
    pub fn spool_to(&self, dir: PathBuf) -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        self.shared.lock().spool = Some(dir);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL for [`crate::SmtpConfig`]: plain SMTP to the sink.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Answer the next `n` messages with `451 4.3.0` after their DATA (nothing stored).
    pub fn fail_next(&self, n: usize) {
        self.shared.lock().fail_next = n;
    }

    /// Refuse this recipient at RCPT with `550 5.1.1` (a permanent failure).
    pub fn reject_recipient(&self, addr: &str) {
        self.shared
            .lock()
            .rejected_recipients
            .insert(addr.to_ascii_lowercase());
    }

    /// How many messages were answered with 451 so far.
    pub fn temporary_failures(&self) -> usize {
        self.shared.lock().temporary_failures
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.lock().messages.clone()
    }

    /// Wait until at least `n` messages were accepted (or `timeout` passed); returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

fn path_arg(arg: &str) -> String {
    // "FROM:<a@b> SIZE=10" → "a@b"
    let after = arg.split_once(':').map(|(_, r)| r).unwrap_or(arg).trim();
    let addr = after.split_whitespace().next().unwrap_or("");
    addr.trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 tinhso-smtp-sink ESMTP (test sink, delivers nothing)\r\n")
        .await?;
    let mut tx = Transaction::default();
    let mut auth_user: Option<String> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                tx = Transaction::default();
                format!(
                    "250-tinhso-smtp-sink greets {arg}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE {MAX_MESSAGE}\r\n"
                )
            }
            "HELO" => {
                tx = Transaction::default();
                format!("250 tinhso-smtp-sink greets {arg}\r\n")
            }
            "AUTH" => {
                let mut parts = arg.split_whitespace();
                let mech = parts.next().unwrap_or("").to_ascii_uppercase();
                let initial = parts.next().map(str::to_string);
                match mech.as_str() {
                    "PLAIN" => {
                        let resp = match initial {
                            Some(r) => r,
                            None => {
                                write.write_all(b"334 \r\n").await?;
                                read_line(&mut reader).await?
                            }
                        };
                        // authzid \0 authcid \0 password
                        let user = decode_b64(&resp).and_then(|b| {
                            b.split(|c| *c == 0)
                                .nth(1)
                                .map(|u| String::from_utf8_lossy(u).into_owned())
                        });
                        match user {
                            Some(u) => {
                                auth_user = Some(u);
                                "235 2.7.0 Authentication successful\r\n".into()
                            }
                            None => "501 5.5.2 Cannot decode AUTH PLAIN\r\n".into(),
                        }
                    }
                    "LOGIN" => {
                        let user_b64 = match initial {
                            Some(r) => r,
                            None => {
                                write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                                read_line(&mut reader).await?
                            }
                        };
                        write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                        let _password = read_line(&mut reader).await?;
                        match decode_b64(&user_b64) {
                            Some(u) => {
                                auth_user = Some(String::from_utf8_lossy(&u).into_owned());
                                "235 2.7.0 Authentication successful\r\n".into()
                            }
                            None => "501 5.5.2 Cannot decode AUTH LOGIN\r\n".into(),
                        }
                    }
                    _ => "504 5.5.4 Unrecognized authentication type\r\n".into(),
                }
            }
            "MAIL" => {
                tx = Transaction {
                    from: Some(path_arg(arg)),
                    to: Vec::new(),
                };
                "250 2.1.0 Ok\r\n".into()
            }
            "RCPT" => {
                let to = path_arg(arg);
                if tx.from.is_none() {
                    "503 5.5.1 Need MAIL before RCPT\r\n".into()
                } else if shared
                    .lock()
                    .rejected_recipients
                    .contains(&to.to_ascii_lowercase())
                {
                    format!("550 5.1.1 <{to}>: Recipient address rejected (test sink)\r\n")
                } else {
                    tx.to.push(to);
                    "250 2.1.5 Ok\r\n".into()
                }
            }
            "DATA" => {
                if tx.from.is_none() || tx.to.is_empty() {
                    "503 5.5.1 Need MAIL and RCPT before DATA\r\n".into()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let raw = read_data(&mut reader).await?;
                    let tx_done = std::mem::take(&mut tx);
                    match raw {
                        None => "552 5.3.4 Message too big\r\n".into(),
                        Some(raw) => {
                            let mut st = shared.lock();
                            if st.fail_next > 0 {
                                st.fail_next -= 1;
                                st.temporary_failures += 1;
                                "451 4.3.0 Temporary failure, try again later (test sink)\r\n"
                                    .into()
                            } else {
                                let mail = parse(
                                    raw,
                                    tx_done.from.unwrap_or_default(),
                                    tx_done.to,
                                    auth_user.clone(),
                                );
                                st.messages.push(mail.clone());
                                let n = st.messages.len();
                                if let Some(dir) = &st.spool {
                                    let path = dir.join(format!("{n:05}.eml"));
                                    if let Err(e) = std::fs::write(&path, mail.raw.as_bytes()) {
                                        tracing::warn!(error = %e, path = %path.display(), "smtp sink cannot spool");
                                    }
                                }
                                tracing::info!(
                                    to = ?mail.envelope_to,
                                    subject = %mail.subject,
                                    "smtp sink: message received (not delivered anywhere)"
                                );
                                drop(st);
                                shared.arrived.notify_waiters();
                                format!("250 2.0.0 Ok: queued as {n}\r\n")
                            }
                        }
                    }
                }
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 Ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".into(),
            "VRFY" => "252 2.0.0 Cannot verify\r\n".into(),
            "STARTTLS" => "454 4.7.0 TLS not available (test sink)\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            "" => "500 5.5.2 Empty command\r\n".into(),
            _ => "502 5.5.2 Command not recognized\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<String> {
    let mut buf = Vec::new();
    r.read_until(b'\n', &mut buf).await?;
    Ok(String::from_utf8_lossy(&buf)
        .trim_end_matches(['\r', '\n'])
        .to_string())
}

/// Read DATA up to the lone dot; undo dot-stuffing. `None` when the message is too big (the
/// rest is still read to the end so the session stays in step).
async fn read_data<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<String>> {
    let mut out: Vec<u8> = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in DATA",
            ));
        }
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if content == b"." {
            break;
        }
        let unstuffed = content.strip_prefix(b".").unwrap_or(content);
        if out.len() + unstuffed.len() + 2 > MAX_MESSAGE {
            too_big = true;
            continue;
        }
        out.extend_from_slice(unstuffed);
        out.extend_from_slice(b"\r\n");
    }
    Ok((!too_big).then(|| String::from_utf8_lossy(&out).into_owned()))
}

// ---- decoding ----------------------------------------------------------------------------

fn split_head_body(raw: &str) -> (&str, &str) {
    if let Some(i) = raw.find("\r\n\r\n") {
        (&raw[..i], &raw[i + 4..])
    } else if let Some(i) = raw.find("\n\n") {
        (&raw[..i], &raw[i + 2..])
    } else {
        (raw, "")
    }
}

/// Unfolded raw headers (values not decoded).
fn raw_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `text/plain; charset=utf-8; boundary="x"` → ("text/plain", param lookup).
fn content_type(v: &str) -> (String, Vec<(String, String)>) {
    let mut parts = v.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect();
    (mime, params)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Quoted-printable (RFC 2045) to bytes; `underscore_space` for RFC 2047 Q-encoding.
fn decode_qp(s: &str, underscore_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => {
                i += 3; // soft line break
            }
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => match (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Decode RFC 2047 encoded words (`=?utf-8?B?…?=`, `=?utf-8?Q?…?=`); whitespace between two
/// encoded words is dropped.
pub fn decode_header_value(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    let mut pending_ws = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some(word) = encoded_word(rest) {
            let (decoded, len) = word;
            if !last_was_word {
                out.push_str(&pending_ws);
            }
            pending_ws.clear();
            out.push_str(&decoded);
            rest = &rest[len..];
            last_was_word = true;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            pending_ws.push(c);
        } else {
            out.push_str(&pending_ws);
            pending_ws.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&pending_ws);
    out
}

/// An encoded word at the start of `s`: its decoded text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, after) = inner.split_once('?')?;
    let (enc, after) = after.split_once('?')?;
    let end = after.find("?=")?;
    let data = &after[..end];
    if data.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match enc {
        "B" | "b" => decode_b64(data)?,
        "Q" | "q" => decode_qp(data, true),
        _ => return None,
    };
    let len = s.len() - after.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

fn decode_body(body: &str, cte: Option<&str>) -> String {
    let bytes = match cte.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        Some("base64") => {
            let joined: String = body.split_whitespace().collect();
            decode_b64(&joined).unwrap_or_else(|| body.as_bytes().to_vec())
        }
        Some("quoted-printable") => decode_qp(body, false),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes)
        .replace("\r\n", "\n")
        .trim_end_matches('\n')
        .to_string()
}

/// Find text/plain and text/html in an entity (recursing into multiparts).
fn collect_bodies(entity: &str, text: &mut Option<String>, html: &mut Option<String>, depth: u8) {
    let (head, body) = split_head_body(entity);
    let h = raw_headers(head);
    let (mime, params) = content_type(header(&h, "Content-Type").unwrap_or("text/plain"));
    let cte = header(&h, "Content-Transfer-Encoding");
    if mime.starts_with("multipart/") && depth < 8 {
        let Some(boundary) = params
            .iter()
            .find(|(k, _)| k == "boundary")
            .map(|(_, v)| v.clone())
        else {
            return;
        };
        let delim = format!("--{boundary}");
        for part in body.split(delim.as_str()).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.strip_prefix("\r\n").unwrap_or(part);
            let part = part.strip_suffix("\r\n").unwrap_or(part);
            collect_bodies(part, text, html, depth + 1);
        }
    } else if mime == "text/plain" && text.is_none() {
        *text = Some(decode_body(body, cte));
    } else if mime == "text/html" && html.is_none() {
        *html = Some(decode_body(body, cte));
    }
}

/// Decode a raw message as the sink stores it.
pub fn parse(
    raw: String,
    envelope_from: String,
    envelope_to: Vec<String>,
    auth_user: Option<String>,
) -> ReceivedMail {
    let (head, _) = split_head_body(&raw);
    let headers: Vec<(String, String)> = raw_headers(head)
        .into_iter()
        .map(|(n, v)| {
            let d = decode_header_value(&v);
            (n, d)
        })
        .collect();
    let subject = header(&headers, "Subject").unwrap_or("").to_string();
    let mut text = None;
    let mut html = None;
    collect_bodies(&raw, &mut text, &mut html, 0);
    ReceivedMail {
        envelope_from,
        envelope_to,
        auth_user,
        headers,
        subject,
        text: text.unwrap_or_default(),
        html,
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words() {
        assert_eq!(
            decode_header_value("=?utf-8?b?SOG7kyBzxqEgxJHDoyDEkcaw4bujYyB0aeG6v3Agbmjhuq1u?="),
            "Hồ sơ đã được tiếp nhận"
        );
        assert_eq!(
            decode_header_value("=?utf-8?Q?H=E1=BB=93_s=C6=A1?= =?utf-8?Q?_m=E1=BB=9Bi?= x"),
            "Hồ sơ mới x"
        );
        assert_eq!(decode_header_value("plain  text"), "plain  text");
        assert_eq!(decode_header_value("=?bad"), "=?bad");
    }

    #[test]
    fn bodies_and_multiparts() {
        let raw = "Subject: =?utf-8?Q?Th=C3=B4ng_b=C3=A1o?=\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
            --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            K=C3=ADnh g=E1=BB=ADi b=C3=A0 Mai, d=C3=B2ng r=E1=BA=A5t d=C3=A0i =\r\nti=E1=BA=BFp\r\n\
            --b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            PHA+S8OtbmggZ+G7rWk8L3A+\r\n--b1--\r\n";
        let m = parse(raw.into(), "a@b".into(), vec!["c@d".into()], None);
        assert_eq!(m.subject, "Thông báo");
        assert_eq!(m.text, "Kính gửi bà Mai, dòng rất dài tiếp");
        assert_eq!(m.html.as_deref(), Some("<p>Kính gửi</p>"));
        assert_eq!(m.header("subject"), Some("Thông báo"));
    }
}
