//! Raft's requests between monitors, as [`Message::MonPeer`] over the messenger: a request
//! goes out with a fresh tid and its answer comes back with the same one (the monitor's
//! dispatcher hands answers to [`PeerNet::answered`] and requests to [`serve`]).

use super::{Raft, Rank, TypeConfig};
use crate::msg::{EntityName, Message, Messenger};
use bytes::Bytes;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

const KIND: &str = "mon-peer";
const VERSION: u16 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<Rank>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerReply {
    Append(Result<AppendEntriesResponse<Rank>, RaftError<Rank>>),
    Vote(Result<VoteResponse<Rank>, RaftError<Rank>>),
    Snapshot(Result<InstallSnapshotResponse<Rank>, RaftError<Rank, InstallSnapshotError>>),
}

/// Requests waiting for their answer, by peer and tid.
#[derive(Default)]
struct Pending {
    next_tid: AtomicU64,
    waiting: Mutex<HashMap<(Rank, u64), oneshot::Sender<Bytes>>>,
}

/// The monitors' network for Raft (one per monitor).
#[derive(Clone)]
pub struct PeerNet {
    msgr: Messenger,
    pending: Arc<Pending>,
}

impl PeerNet {
    pub fn new(msgr: Messenger) -> PeerNet {
        PeerNet {
            msgr,
            pending: Arc::new(Pending {
                // Not reused by a restarted process, whose old answers may still be on the
                // way: a late answer must never match a new request.
                next_tid: AtomicU64::new(rados_common::random::nonzero_u64() >> 2),
                waiting: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// An answer from `from` to our request `tid` (an answer nobody waits for is dropped:
    /// its request timed out).
    pub fn answered(&self, from: Rank, tid: u64, payload: Bytes) {
        let waiter = self
            .pending
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(from, tid));
        match waiter {
            Some(w) => {
                let _ = w.send(payload);
            }
            None => tracing::debug!(target: "mon", "late consensus answer {tid} from mon.{from}"),
        }
    }

    async fn call(
        &self,
        to: Rank,
        req: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerReply, NetError> {
        let payload = crate::encoding::encode(KIND, VERSION, &req)
            .map_err(|e| NetError::Network(e.to_string()))?;
        let tid = self.pending.next_tid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let key = (to, tid);
        self.pending
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, tx);
        let forget = || {
            self.pending
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        };
        let msg = Message::MonPeer {
            payload: Bytes::from(payload),
            reply: false,
        };
        let answer = tokio::time::timeout(option.hard_ttl(), async {
            self.msgr
                .send(EntityName::mon(to), tid, 0, &msg)
                .await
                .map_err(|e| NetError::Unreachable(e.to_string()))?;
            rx.await
                .map_err(|_| NetError::Unreachable("the monitor stopped".into()))
        })
        .await;
        let bytes = match answer {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                forget();
                return Err(e);
            }
            Err(_) => {
                forget();
                return Err(NetError::Unreachable(format!(
                    "mon.{to} did not answer within {:?}",
                    option.hard_ttl()
                )));
            }
        };
        crate::encoding::decode::<PeerReply>(KIND, VERSION, &bytes)
            .map(|(_, r)| r)
            .map_err(|e| NetError::Network(format!("bad answer from mon.{to}: {e}")))
    }
}

enum NetError {
    /// Back off before trying again.
    Unreachable(String),
    /// Try again.
    Network(String),
}

impl NetError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<Rank, BasicNode, E> {
        match self {
            NetError::Unreachable(m) => {
                RPCError::Unreachable(Unreachable::new(&std::io::Error::other(m)))
            }
            NetError::Network(m) => RPCError::Network(NetworkError::new(&std::io::Error::other(m))),
        }
    }
}

/// Answers a request from monitor `from` (tid `tid`) with `raft`.
pub async fn serve(raft: &Raft, msgr: &Messenger, from: EntityName, tid: u64, payload: &[u8]) {
    let req = match crate::encoding::decode::<PeerRequest>(KIND, VERSION, payload) {
        Ok((_, r)) => r,
        Err(e) => {
            tracing::warn!(target: "mon", "refusing a malformed consensus request from {from}: {e}");
            return;
        }
    };
    let reply = match req {
        PeerRequest::Append(r) => PeerReply::Append(raft.append_entries(r).await),
        PeerRequest::Vote(r) => PeerReply::Vote(raft.vote(r).await),
        PeerRequest::Snapshot(r) => PeerReply::Snapshot(raft.install_snapshot(r).await),
    };
    let payload = match crate::encoding::encode(KIND, VERSION, &reply) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(target: "mon", "cannot encode a consensus answer to {from}: {e}");
            return;
        }
    };
    let msg = Message::MonPeer {
        payload: Bytes::from(payload),
        reply: true,
    };
    if let Err(e) = msgr.send(from, tid, 0, &msg).await {
        tracing::debug!(target: "mon", "consensus answer to {from} lost: {e}");
    }
}

/// One peer, as Raft's replication sees it.
pub struct PeerConn {
    net: PeerNet,
    to: Rank,
}

impl RaftNetworkFactory<TypeConfig> for PeerNet {
    type Network = PeerConn;

    async fn new_client(&mut self, target: Rank, _node: &BasicNode) -> PeerConn {
        PeerConn {
            net: self.clone(),
            to: target,
        }
    }
}

impl PeerConn {
    /// Sends `req`; `pick` takes the answer of the matching kind.
    async fn rpc<T, E: std::error::Error>(
        &self,
        req: PeerRequest,
        option: &RPCOption,
        pick: impl FnOnce(PeerReply) -> Option<Result<T, E>>,
    ) -> Result<T, RPCError<Rank, BasicNode, E>> {
        let reply = self
            .net
            .call(self.to, req, option)
            .await
            .map_err(NetError::into_rpc)?;
        match pick(reply) {
            Some(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e))),
            None => Err(NetError::Network("mismatched answer".into()).into_rpc()),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerConn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<Rank>, RPCError<Rank, BasicNode, RaftError<Rank>>> {
        self.rpc(PeerRequest::Append(rpc), &option, |r| match r {
            PeerReply::Append(r) => Some(r),
            _ => None,
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<Rank>,
        RPCError<Rank, BasicNode, RaftError<Rank, InstallSnapshotError>>,
    > {
        self.rpc(PeerRequest::Snapshot(rpc), &option, |r| match r {
            PeerReply::Snapshot(r) => Some(r),
            _ => None,
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<Rank>,
        option: RPCOption,
    ) -> Result<VoteResponse<Rank>, RPCError<Rank, BasicNode, RaftError<Rank>>> {
        self.rpc(PeerRequest::Vote(rpc), &option, |r| match r {
            PeerReply::Vote(r) => Some(r),
            _ => None,
        })
        .await
    }
}
