//! E-mail for the server: the configured SMTP relay, or in demo mode a local sink.

use crate::config::Settings;
use anyhow::Context;

/// The sender used in demo mode when `mail_from` is not set.
pub const DEMO_FROM: &str = "Cổng dịch vụ công Tỉnh số demo <noreply@tinhso.invalid>";

/// The e-mail sender: the configured relay; with demo data and no relay, a local SMTP sink
/// (returned so it lives as long as the server) that keeps the messages in
/// `<data dir>/mail-sink/`; otherwise none (no e-mail notifications).
pub async fn mailer(
    settings: &Settings,
    demo: bool,
) -> anyhow::Result<(
    Option<tinhso_notify::SmtpMailer>,
    Option<tinhso_notify::smtp_sink::SmtpSink>,
)> {
    if let Some(smtp) = &settings.smtp {
        let from = settings.mail_from.as_deref().unwrap_or_default();
        let m = tinhso_notify::SmtpMailer::new(smtp, from)
            .map_err(|e| anyhow::anyhow!("setting `smtp_url`: {e}"))?;
        if !settings.public_url_set {
            tracing::warn!(public_url = %settings.public_url, "setting `public_url` is not set: links in e-mails point at the listen address");
        }
        tracing::info!(relay = %m.relay(), "e-mail notifications on");
        return Ok((Some(m), None));
    }
    if !demo {
        tracing::info!("e-mail notifications off (no `smtp_url`)");
        return Ok((None, None));
    }
    let sink = tinhso_notify::smtp_sink::SmtpSink::start()
        .await
        .context("demo: cannot start the local SMTP sink")?;
    let dir = settings.data_dir.join("mail-sink");
    sink.spool_to(dir.clone())
        .with_context(|| format!("demo: cannot create {}", dir.display()))?;
    let from = settings.mail_from.as_deref().unwrap_or(DEMO_FROM);
    let m = tinhso_notify::SmtpMailer::from_url(&sink.url(), from)
        .map_err(|e| anyhow::anyhow!("setting `mail_from`: {e}"))?;
    tracing::info!(sink = %sink.url(), dir = %dir.display(), "demo: e-mails go to a local SMTP sink and are saved as .eml files; nothing leaves this machine");
    Ok((Some(m), Some(sink)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::SettingArgs;

    fn settings(dir: &std::path::Path, smtp_url: Option<&str>) -> Settings {
        Settings::resolve(&SettingArgs {
            data_dir: Some(dir.join("data")),
            smtp_url: smtp_url.map(str::to_string),
            mail_from: smtp_url.map(|_| "Cổng dịch vụ công <noreply@example.gov.vn>".into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn no_relay_no_mail_unless_demo_which_gets_a_local_sink() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), None);
        let (m, sink) = mailer(&s, false).await.unwrap();
        assert!(m.is_none() && sink.is_none());

        let (m, sink) = mailer(&s, true).await.unwrap();
        let (m, sink) = (m.unwrap(), sink.unwrap());
        assert_eq!(m.relay(), format!("smtp://{}?tls=none", sink.addr()));
        m.send(&tinhso_notify::Email {
            to: "mai@example.vn".into(),
            to_name: "Hoàng Thị Mai".into(),
            subject: "Thử gửi thư".into(),
            text: "Xin chào".into(),
            html: None,
        })
        .await
        .unwrap();
        let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(got[0].subject, "Thử gửi thư");
        assert!(got[0]
            .header("From")
            .unwrap()
            .contains("noreply@tinhso.invalid"));
        let eml = std::fs::read_to_string(s.data_dir.join("mail-sink/00001.eml")).unwrap();
        assert!(eml.contains("mai@example.vn"));
    }

    #[tokio::test]
    async fn a_configured_relay_wins_even_in_demo_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), Some("smtps://u:secret@mail.example.gov.vn"));
        let (m, sink) = mailer(&s, true).await.unwrap();
        assert!(sink.is_none());
        assert_eq!(m.unwrap().relay(), "smtps://u:***@mail.example.gov.vn:465");
    }
}
