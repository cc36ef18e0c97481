//! Opening connections: the pool's, and the dedicated ones scope locks hold.

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use kms_sync_core::{Error, Result};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{tls, Listening};
use crate::config::PostgresConfig;
use crate::error;

/// Everything needed to open a connection: the checked settings and the TLS connector.
#[derive(Clone)]
pub(crate) struct Connector {
    pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    server: String,
}

impl Connector {
    pub fn new(config: &PostgresConfig) -> Result<Connector> {
        Ok(Connector {
            pg: config.pg().clone(),
            tls: tls::connector(config.extra_roots())?,
            server: config.server(),
        })
    }

    /// The server, without credentials, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The pool's connection manager. A returned connection is checked only for being
    /// closed (no round trip per checkout); a broken one fails its query and is dropped.
    pub fn manager(&self) -> Manager {
        let config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        Manager::from_config(self.pg.clone(), self.tls.clone(), config)
    }

    /// A connection of its own, outside the pool: dropping the client closes it, and the
    /// server then ends the session and everything it held.
    pub async fn dedicated(&self, purpose: &str) -> Result<Client> {
        let (client, connection) = self
            .pg
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.unreachable(purpose, e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a dedicated PostgreSQL connection ended with an error");
            }
        });
        Ok(client)
    }

    /// A connection of its own whose notifications (`LISTEN`) arrive on the returned
    /// channel. The channel closes when the connection ends (the server restarted, the
    /// network failed, or the client was dropped).
    pub async fn listening(&self, purpose: &str) -> Result<Listening> {
        let (client, mut connection) = self
            .pg
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.unreachable(purpose, e))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = futures::StreamExt::next(&mut messages).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if tx.send(n).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "a listening PostgreSQL connection ended with an error");
                        break;
                    }
                }
            }
        });
        Ok((client, rx))
    }

    /// A connection failure naming the server (never the password).
    pub fn unreachable(&self, purpose: &str, err: tokio_postgres::Error) -> Error {
        error::connect(&self.server, purpose, err)
    }
}
