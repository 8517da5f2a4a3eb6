//! A listener's accept loop: each accepted connection goes to the protocol driver `serve`
//! names, as a task of its own on this shard.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::CancelHandle;
use monoio::net::{TcpListener, TcpStream};

use super::context::ShardCtx;

/// How long accepting pauses after an error such as EMFILE, instead of spinning on a full
/// descriptor table.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Accepts until `cancel` fires during a drain (listeners without one accept until exit).
pub async fn accept_loop(
    ctx: Rc<ShardCtx>,
    listener: TcpListener,
    cancel: Option<CancelHandle>,
    serve: impl Fn(TcpStream, SocketAddr),
) {
    loop {
        let accepted = match &cancel {
            Some(handle) => listener.cancelable_accept(handle.clone()).await,
            None => listener.accept().await,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                serve(stream, peer);
            }
            Err(e) if cancel.is_some() && ctx.shared.lifecycle.is_draining() => {
                tracing::debug!(shard = ctx.id, error = %e, "listener closed for drain");
                break;
            }
            Err(e) => {
                tracing::warn!(shard = ctx.id, error = %e, "accept failed");
                monoio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}
