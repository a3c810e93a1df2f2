//! What travels on the cluster's pub/sub channels, encoded and decoded in one place.
//!
//! A room's channel carries [`RoomItem`]s in the order Redis accepted them: messages (the send
//! script builds their form itself, see [`RoomItem::MESSAGE_TAG`]), frames for the room's
//! viewers, and frames of changes to the room's state. A node's channel carries
//! [`NodeSignal`]s (JSON) to the connections on that node.

use liveroom_proto::{KickReason, Priority, Profile};
use serde::{Deserialize, Serialize};

use crate::session::Signal;

/// One item of a room's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomItem {
    /// A message: its priority, its sequence (0 for join/leave tips, which are not kept)
    /// and its JSON. Form: `M` priority-digit sequence ` ` JSON.
    Message {
        /// Its priority (decides what a slow viewer may drop).
        priority: Priority,
        /// Its room sequence.
        seq: u64,
        /// The message's JSON.
        json: String,
    },
    /// A whole frame for the viewers (a room event). Form: `F` frame.
    Frame(String),
    /// A room event after a change to the room's state made on some node: every node
    /// reloads the room's rules, then passes the frame on. Form: `S` frame.
    Changed(String),
}

impl RoomItem {
    /// The tag of a message item; the send script writes `M`, the digit and the sequence.
    pub(crate) const MESSAGE_TAG: &'static str = "M";

    /// The digit of `priority` in a message item.
    pub(crate) fn priority_digit(priority: Priority) -> char {
        match priority {
            Priority::High => '0',
            Priority::Normal => '1',
            Priority::Low => '2',
            Priority::Lowest => '3',
        }
    }

    fn priority_of(digit: u8) -> Option<Priority> {
        match digit {
            b'0' => Some(Priority::High),
            b'1' => Some(Priority::Normal),
            b'2' => Some(Priority::Low),
            b'3' => Some(Priority::Lowest),
            _ => None,
        }
    }

    /// The item as published.
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Message {
                priority,
                seq,
                json,
            } => format!(
                "{}{}{seq} {json}",
                Self::MESSAGE_TAG,
                Self::priority_digit(*priority)
            ),
            Self::Frame(frame) => format!("F{frame}"),
            Self::Changed(frame) => format!("S{frame}"),
        }
    }

    /// An item as received; `None` for anything else.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let tag = text.as_bytes().first()?;
        let rest = text.get(1..)?;
        match tag {
            b'M' => {
                let priority = Self::priority_of(*rest.as_bytes().first()?)?;
                let (seq, json) = rest.get(1..)?.split_once(' ')?;
                Some(Self::Message {
                    priority,
                    seq: seq.parse().ok()?,
                    json: json.to_owned(),
                })
            }
            b'F' => Some(Self::Frame(rest.to_owned())),
            b'S' => Some(Self::Changed(rest.to_owned())),
            _ => None,
        }
    }
}

/// A signal to a connection on another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeSignal {
    /// The user's SDKAppID.
    pub(crate) app: u64,
    /// The user.
    pub(crate) user: String,
    /// Only this connection of the user (a kick by a newer login); `None`: whichever.
    pub(crate) conn: Option<u64>,
    /// What to do.
    pub(crate) signal: SignalWire,
}

/// [`Signal`] as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum SignalWire {
    /// End the session.
    Kick {
        /// Why.
        reason: KickReason,
    },
    /// Leave `room` after sending `frame`.
    Leave {
        /// The room.
        room: String,
        /// The encoded `room_event` frame.
        frame: String,
    },
    /// The user's new profile.
    Profile {
        /// It.
        profile: Profile,
    },
    /// Frames for the rooms named with them.
    Push {
        /// (room, encoded frame).
        frames: Vec<(String, String)>,
    },
}

impl From<Signal> for SignalWire {
    fn from(s: Signal) -> Self {
        match s {
            Signal::Kick(reason) => Self::Kick { reason },
            Signal::Leave { room, frame } => Self::Leave { room, frame },
            Signal::Profile(profile) => Self::Profile { profile },
            Signal::Push(frames) => Self::Push { frames },
        }
    }
}

impl From<SignalWire> for Signal {
    fn from(s: SignalWire) -> Self {
        match s {
            SignalWire::Kick { reason } => Self::Kick(reason),
            SignalWire::Leave { room, frame } => Self::Leave { room, frame },
            SignalWire::Profile { profile } => Self::Profile(profile),
            SignalWire::Push { frames } => Self::Push(frames),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_comes_back_as_it_went() {
        for item in [
            RoomItem::Message {
                priority: Priority::Lowest,
                seq: 42,
                json: r#"{"ID":"x y"}"#.into(),
            },
            RoomItem::Message {
                priority: Priority::High,
                seq: 0,
                json: "{}".into(),
            },
            RoomItem::Frame(r#"{"type":"online"}"#.into()),
            RoomItem::Changed(r#"{"type":"room_event"}"#.into()),
        ] {
            assert_eq!(RoomItem::decode(&item.encode()), Some(item));
        }
        for bad in ["", "M", "M9 1 {}", "M1x {}", "M1", "X{}"] {
            assert_eq!(RoomItem::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_signal_comes_back_as_it_went() {
        for signal in [
            Signal::Kick(KickReason::RestApi),
            Signal::Leave {
                room: "r".into(),
                frame: "{}".into(),
            },
            Signal::Profile(Profile {
                user_id: "u".into(),
                nick: "Ann".into(),
                avatar: "https://x/a.png".into(),
            }),
            Signal::Push(vec![("r".into(), "{}".into())]),
        ] {
            let wire = NodeSignal {
                app: 1,
                user: "u".into(),
                conn: None,
                signal: signal.clone().into(),
            };
            let json = serde_json::to_string(&wire).unwrap();
            let back: NodeSignal = serde_json::from_str(&json).unwrap();
            assert_eq!(Signal::from(back.signal), signal, "{json}");
        }
    }

    #[test]
    fn the_send_scripts_form_is_a_message_item() {
        // What the Lua script concatenates: 'M' .. digit .. seq .. ' ' .. json.
        let scripted = format!("M{}{} {}", RoomItem::priority_digit(Priority::Low), 7, "{}");
        assert_eq!(
            RoomItem::decode(&scripted),
            Some(RoomItem::Message {
                priority: Priority::Low,
                seq: 7,
                json: "{}".into()
            })
        );
    }
}
