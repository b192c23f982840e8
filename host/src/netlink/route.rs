//! The Linux implementation of namespace-bound route sockets.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NetlinkBuffer, NetlinkDeserializable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::RECEIVE_TIMEOUT;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::netns::{Namespace, NsId, NsPin};

/// Size of the receive buffer: larger than the kernel's largest dump datagram (32 KiB).
const RECEIVE_BUFFER: usize = 64 * 1024;

/// A `NETLINK_ROUTE` socket created inside one network namespace, usable from any thread.
///
/// Requests on one socket are serialised (netlink replies are matched by sequence number, and a
/// late reply to a request that timed out is skipped, never taken for the next one's).
#[derive(Debug)]
pub struct RouteSocket {
    state: Mutex<State>,
    ns: String,
}

#[derive(Debug)]
struct State {
    socket: imp::RawSocket,
    seq: u32,
    buf: Vec<u8>,
}

/// What a request expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A multipart dump ending with `NLMSG_DONE`.
    Dump,
    /// One answer message (a `get`), or an error.
    One,
    /// An acknowledgement of a change (`NLM_F_ACK`), or an error.
    Ack(Change),
}

/// How a change request treats an existing object (the `NLM_F_*` flags `ip` sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `ip … add`: create, fail with `EEXIST` if it exists.
    Create,
    /// `ip … replace`: create or replace.
    Replace,
    /// `ip link set`, `ip … del`: act on an existing object.
    Existing,
}

impl Reply {
    fn flags(self) -> u16 {
        NLM_F_REQUEST
            | match self {
                Reply::Dump => NLM_F_DUMP,
                Reply::One => 0,
                Reply::Ack(Change::Create) => NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                Reply::Ack(Change::Replace) => NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
                Reply::Ack(Change::Existing) => NLM_F_ACK,
            }
    }
}

impl RouteSocket {
    /// Opens a socket inside `ns` (a job on `executor`), with a receive timeout.
    pub fn open(executor: &Executor, ns: &Namespace) -> Result<RouteSocket> {
        let socket = executor
            .run(ns, imp::RawSocket::create)?
            .into_value()
            .map_err(|source| Error::Netlink {
                op: "socket",
                ns: ns.to_string(),
                source,
            })?;
        Ok(RouteSocket {
            state: Mutex::new(State {
                socket,
                seq: 0,
                buf: vec![0; RECEIVE_BUFFER],
            }),
            ns: ns.to_string(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error for `op` failing with `errno` on this socket's namespace.
    pub(crate) fn error(&self, op: &'static str, errno: i32) -> Error {
        Error::Netlink {
            op,
            ns: self.ns.clone(),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    /// Sends a change and waits for the kernel's acknowledgement.
    pub(crate) fn change(
        &self,
        op: &'static str,
        message: RouteNetlinkMessage,
        change: Change,
    ) -> Result<()> {
        self.request(op, message, Reply::Ack(change)).map(drop)
    }

    /// Sends `message` and collects the answer. `op` names the request in `ip` terms for errors.
    pub(crate) fn request(
        &self,
        op: &'static str,
        message: RouteNetlinkMessage,
        reply: Reply,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.request_with(op, message, reply, |header, payload| {
            RouteNetlinkMessage::deserialize(header, payload).map(Some)
        })
    }

    /// [`RouteSocket::request`] with the caller decoding each answer from its header and raw
    /// payload (straight from the receive buffer; `None` skips it). A dump whose caller needs a
    /// few attributes of each answer decodes only those, not the whole message.
    pub(crate) fn request_with<T>(
        &self,
        op: &'static str,
        message: RouteNetlinkMessage,
        reply: Reply,
        mut decode: impl FnMut(&NetlinkHeader, &[u8]) -> std::result::Result<Option<T>, DecodeError>,
    ) -> Result<Vec<T>> {
        let err = |source| Error::Netlink {
            op,
            ns: self.ns.clone(),
            source,
        };
        let invalid = |e: DecodeError| err(io::Error::new(io::ErrorKind::InvalidData, e));
        let mut state = self.lock();
        state.seq = state.seq.wrapping_add(1);
        let seq = state.seq;

        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), message.into());
        packet.header.flags = reply.flags();
        packet.header.sequence_number = seq;
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        state.socket.send(&out).map_err(err)?;

        let mut answers = Vec::new();
        loop {
            let State { socket, buf, .. } = &mut *state;
            let len = socket.recv(buf).map_err(|e| {
                err(match e.kind() {
                    io::ErrorKind::WouldBlock => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer from the kernel within {RECEIVE_TIMEOUT:?}"),
                    ),
                    _ => e,
                })
            })?;
            let mut offset = 0;
            while offset < len {
                let packet = NetlinkBuffer::new_checked(&buf[offset..len]).map_err(invalid)?;
                let msg_len = packet.length() as usize;
                if msg_len == 0 {
                    break;
                }
                offset += msg_len;
                if packet.sequence_number() != seq {
                    continue; // a late answer to an earlier request that timed out
                }
                let header = NetlinkHeader::parse(&packet).map_err(invalid)?;
                if !matches!(
                    header.message_type,
                    NLMSG_ERROR | NLMSG_DONE | NLMSG_NOOP | NLMSG_OVERRUN
                ) {
                    if let Some(answer) = decode(&header, packet.payload()).map_err(invalid)? {
                        answers.push(answer);
                    }
                    if reply == Reply::One {
                        return Ok(answers);
                    }
                    continue;
                }
                let control: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(packet.into_inner()).map_err(invalid)?;
                match control.payload {
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(err(e.to_io())),
                    NetlinkPayload::Error(_) => return Ok(answers), // an acknowledgement
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(err(io::Error::from_raw_os_error(-done.code)));
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    _ => {} // no-op, overrun
                }
            }
        }
    }
}

/// The executor's cache of route sockets, one per namespace identity.
#[derive(Debug, Default)]
pub(crate) struct SocketCache {
    map: Mutex<HashMap<NsId, Entry>>,
}

#[derive(Debug)]
struct Entry {
    socket: Arc<RouteSocket>,
    pin: NsPin,
}

impl SocketCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<NsId, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached socket for `ns`, created inside it on first use.
    pub(crate) fn get(&self, executor: &Executor, ns: &Namespace) -> Result<Arc<RouteSocket>> {
        if let Some(entry) = self.lock().get_mut(&ns.id()) {
            if !entry.pin.is_alive() {
                entry.pin = ns.pin();
            }
            return Ok(Arc::clone(&entry.socket));
        }
        // Created outside the lock: it is a job on a worker.
        let socket = Arc::new(RouteSocket::open(executor, ns)?);
        let mut map = self.lock();
        // An identity nobody holds a handle to anymore may be a deleted namespace: let it go.
        map.retain(|_, entry| entry.pin.is_alive());
        let entry = map.entry(ns.id()).or_insert(Entry {
            socket,
            pin: ns.pin(),
        });
        Ok(Arc::clone(&entry.socket))
    }
}

mod imp {
    use std::io;
    use std::os::fd::AsFd;

    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
    use nix::sys::socket::{setsockopt, sockopt};
    use nix::sys::time::TimeVal;

    use crate::netlink::RECEIVE_TIMEOUT;

    #[derive(Debug)]
    pub(super) struct RawSocket(Socket);

    impl RawSocket {
        /// Runs inside the target namespace: the socket belongs to the caller's namespace.
        pub(super) fn create() -> io::Result<RawSocket> {
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            socket.bind_auto()?;
            socket.connect(&SocketAddr::new(0, 0))?;
            socket.set_ext_ack(true)?;
            let timeout = TimeVal::new(
                RECEIVE_TIMEOUT.as_secs() as _,
                RECEIVE_TIMEOUT.subsec_micros() as _,
            );
            setsockopt(&socket.as_fd(), sockopt::ReceiveTimeout, &timeout)?;
            Ok(RawSocket(socket))
        }

        pub(super) fn send(&self, buf: &[u8]) -> io::Result<()> {
            self.0.send(buf, 0).map(drop)
        }

        pub(super) fn recv(&self, mut buf: &mut [u8]) -> io::Result<usize> {
            self.0.recv(&mut buf, 0)
        }
    }
}
