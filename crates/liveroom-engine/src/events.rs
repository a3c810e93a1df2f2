//! Events: the seed's `TWebLive.EVENT` names, the `{name, data, roomID}` value handlers get,
//! the handler registry, and how a batch of server messages becomes events.
//!
//! Handlers are called on the engine's connection task, in order, before the call that caused
//! the event resolves (so `t_im_ready` is seen before `login` returns). A handler that panics
//! is caught and logged: the other handlers and the `events()` stream still get the event.
//! Handlers should be quick; heavy consumers should read [`crate::Im::events`] instead.

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use liveroom_proto::message::{Flow, PUSH_STOPPED};
use liveroom_proto::{Body, GroupTipPayload, Message, RoomEvent, RoomStats};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use tokio::sync::broadcast;

use crate::inbound::{weight, EVENT_WEIGHT_MAX};
use crate::lock;

/// An event's name; on the wire, the seed's string (`t_text_message_received`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    /// `t_im_ready`: logged in.
    ImReady,
    /// `t_im_not_ready`: logged out or kicked.
    ImNotReady,
    /// `t_text_message_received`: array of text messages.
    TextMessageReceived,
    /// `t_custom_message_received`: array of custom messages (never `push_stopped` ones).
    CustomMessageReceived,
    /// `t_image_message_received`: array of image messages.
    ImageMessageReceived,
    /// `t_remote_user_join`: array of group tips with operationType 1.
    RemoteUserJoin,
    /// `t_remote_user_leave`: array of group tips with operationType 2.
    RemoteUserLeave,
    /// `t_kicked_out`: `multipleAccount`, `multipleDevice`, `userSigExpired` or
    /// `REST_API_Kick` (the app's backend kicked the user: log in with a new UserSig).
    KickedOut,
    /// `t_net_state_change`: `connected`, `connecting` or `disconnected`.
    NetStateChange,
    /// `t_push_stopped`: the host's postscript.
    PushStopped,
    /// `t_online_count`: the room's online count (beyond the seed).
    OnlineCount,
    /// `t_message_deleted`: `{roomID, messageID}`; remove that message from view.
    MessageDeleted,
    /// `t_muted`: `{roomID, userID, until}` (unix seconds; 0 when unmuted).
    Muted,
    /// `t_kicked_from_room`: `{roomID, reason, banned, until}`; this user was removed.
    KickedFromRoom,
    /// `t_room_profile_updated`: the room's new profile (RoomInfo).
    RoomProfileUpdated,
    /// `t_room_dismissed`: the room ID; the room is gone.
    RoomDismissed,
    /// `t_room_settings_updated`: `{roomID, muteAll, slowMode}`.
    RoomSettingsUpdated,
    /// `t_member_removed`: `{roomID, userID, banned}`; a moderator removed that member.
    MemberRemoved,
    /// `t_admin_changed`: `{roomID, userID, admin}`; that member was made admin or not.
    AdminChanged,
    /// `t_messages_skipped`: `{roomID, firstKept}` (beyond the seed); back after a gap older
    /// than the room's history, this client missed messages before sequence `firstKept`.
    MessagesSkipped,
    /// `t_group_system_notice`: array of `TIMGroupSystemNoticeElem` messages (beyond the
    /// seed): notices the app's backend sent to everyone in the room (REST
    /// `send_group_system_notification`), the text in `payload.userDefinedField`.
    GroupSystemNotice,
    /// `t_room_stats` (beyond the seed): the room's statistics, pushed to its moderators in
    /// it every `--room-stats-every` seconds, in [`room_stats_value`]'s shape.
    RoomStats,
}

impl EventName {
    /// Every event name.
    pub const ALL: [EventName; 22] = [
        Self::ImReady,
        Self::ImNotReady,
        Self::TextMessageReceived,
        Self::CustomMessageReceived,
        Self::ImageMessageReceived,
        Self::RemoteUserJoin,
        Self::RemoteUserLeave,
        Self::KickedOut,
        Self::NetStateChange,
        Self::PushStopped,
        Self::OnlineCount,
        Self::MessageDeleted,
        Self::Muted,
        Self::KickedFromRoom,
        Self::RoomProfileUpdated,
        Self::RoomDismissed,
        Self::RoomSettingsUpdated,
        Self::MemberRemoved,
        Self::AdminChanged,
        Self::MessagesSkipped,
        Self::GroupSystemNotice,
        Self::RoomStats,
    ];

    /// The wire name, as the seed's `TWebLive.EVENT` values.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImReady => "t_im_ready",
            Self::ImNotReady => "t_im_not_ready",
            Self::TextMessageReceived => "t_text_message_received",
            Self::CustomMessageReceived => "t_custom_message_received",
            Self::ImageMessageReceived => "t_image_message_received",
            Self::RemoteUserJoin => "t_remote_user_join",
            Self::RemoteUserLeave => "t_remote_user_leave",
            Self::KickedOut => "t_kicked_out",
            Self::NetStateChange => "t_net_state_change",
            Self::PushStopped => "t_push_stopped",
            Self::OnlineCount => "t_online_count",
            Self::MessageDeleted => "t_message_deleted",
            Self::Muted => "t_muted",
            Self::KickedFromRoom => "t_kicked_from_room",
            Self::MemberRemoved => "t_member_removed",
            Self::AdminChanged => "t_admin_changed",
            Self::RoomProfileUpdated => "t_room_profile_updated",
            Self::RoomDismissed => "t_room_dismissed",
            Self::RoomSettingsUpdated => "t_room_settings_updated",
            Self::MessagesSkipped => "t_messages_skipped",
            Self::GroupSystemNotice => "t_group_system_notice",
            Self::RoomStats => "t_room_stats",
        }
    }

    /// Whether the event carries messages (an array of [`Message`]).
    pub fn is_message_event(self) -> bool {
        matches!(
            self,
            Self::TextMessageReceived
                | Self::CustomMessageReceived
                | Self::ImageMessageReceived
                | Self::RemoteUserJoin
                | Self::RemoteUserLeave
                | Self::GroupSystemNotice
        )
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown event name '{s}'"))
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An event's payload: `null`, an array of messages, a string or a number, per [`EventName`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    /// `null` (`t_im_ready`, `t_im_not_ready`).
    None,
    /// A batch of messages, oldest first.
    Messages(Vec<Message>),
    /// A kick reason, a net state or a postscript.
    Text(String),
    /// An online count.
    Count(u64),
    /// A JSON object (moderation events: `{roomID, messageID}`, a RoomInfo, ...).
    Object(serde_json::Value),
}

/// What a handler gets: `{"name": "t_...", "data": ..., "roomID": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Which event.
    pub name: EventName,
    /// The room it concerns (message events, push stopped, online count).
    #[serde(rename = "roomID", default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// The payload.
    pub data: EventData,
    /// `t_net_state_change` while reconnecting (beyond the seed): when the next try is. The
    /// seed's `data` stays the state string.
    #[serde(rename = "nextTry", default, skip_serializing_if = "Option::is_none")]
    pub next_try: Option<NextTry>,
}

/// When a lost connection is tried again: carried by the `connecting` net-state event sent on
/// the loss and after each failed try, so that a user can be told "next try in 4 s".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextTry {
    /// Which try it will be since the connection was lost (1, 2, ...).
    pub attempt: u32,
    /// Milliseconds from now.
    pub in_ms: u64,
    /// The time of the try, in unix milliseconds.
    pub at: u64,
}

impl Event {
    /// An event with no room.
    pub fn new(name: EventName, data: EventData) -> Self {
        Self {
            name,
            room_id: None,
            data,
            next_try: None,
        }
    }

    /// An event about one room.
    pub fn in_room(name: EventName, room: &str, data: EventData) -> Self {
        Self {
            name,
            room_id: Some(room.to_owned()),
            data,
            next_try: None,
        }
    }

    /// The messages of a message event (empty for other events).
    pub fn messages(&self) -> &[Message] {
        match &self.data {
            EventData::Messages(list) => list,
            _ => &[],
        }
    }

    /// The string payload of kick, net-state and push-stopped events.
    pub fn text(&self) -> Option<&str> {
        match &self.data {
            EventData::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A room's statistics as the JS API has them (camelCase, times in unix seconds): `{roomID,
/// startedAt, at, online, peakOnline, minutes: [{at, online, messages}], messagesLastMinute,
/// messagesTotal, likesTotal, giftsTotal, topGifters: [{userID, nick, gifts}]}`. The
/// `t_room_stats` event's data, and what the app's `getRoomStats` resolves.
pub fn room_stats_value(stats: &RoomStats) -> serde_json::Value {
    let minutes: Vec<serde_json::Value> = stats
        .minutes
        .iter()
        .map(|m| json!({"at": m.at, "online": m.online, "messages": m.messages}))
        .collect();
    let gifters: Vec<serde_json::Value> = stats
        .top_gifters
        .iter()
        .map(|g| json!({"userID": g.user_id, "nick": g.nick, "gifts": g.gifts}))
        .collect();
    json!({
        "roomID": stats.room_id,
        "startedAt": stats.started_at,
        "at": stats.at,
        "online": stats.online,
        "peakOnline": stats.peak_online,
        "minutes": minutes,
        "messagesLastMinute": stats.messages_last_minute,
        "messagesTotal": stats.messages_total,
        "likesTotal": stats.likes_total,
        "giftsTotal": stats.gifts_total,
        "topGifters": gifters,
    })
}

/// The event a moderation push becomes, and whether this engine leaves the room for it.
pub(crate) fn room_event(room: &str, event: RoomEvent) -> (Event, bool) {
    let (name, data, leave) = match event {
        RoomEvent::MessageDeleted { message_id } => (
            EventName::MessageDeleted,
            EventData::Object(json!({"roomID": room, "messageID": message_id})),
            false,
        ),
        RoomEvent::Muted { user_id, until } => (
            EventName::Muted,
            EventData::Object(json!({"roomID": room, "userID": user_id, "until": until})),
            false,
        ),
        RoomEvent::Kicked {
            user_id,
            reason,
            banned,
            until,
        } => (
            EventName::KickedFromRoom,
            EventData::Object(json!({
                "roomID": room, "userID": user_id, "reason": reason,
                "banned": banned, "until": until,
            })),
            true,
        ),
        RoomEvent::MemberRemoved { user_id, banned } => (
            EventName::MemberRemoved,
            EventData::Object(json!({"roomID": room, "userID": user_id, "banned": banned})),
            false,
        ),
        RoomEvent::AdminChanged { user_id, admin } => (
            EventName::AdminChanged,
            EventData::Object(json!({"roomID": room, "userID": user_id, "admin": admin})),
            false,
        ),
        RoomEvent::ProfileUpdated { info } => (
            EventName::RoomProfileUpdated,
            EventData::Object(serde_json::to_value(info).unwrap_or_default()),
            false,
        ),
        RoomEvent::SettingsUpdated { settings } => (
            EventName::RoomSettingsUpdated,
            EventData::Object(json!({
                "roomID": room, "muteAll": settings.mute_all, "slowMode": settings.slow_mode,
            })),
            false,
        ),
        RoomEvent::Dismissed => (
            EventName::RoomDismissed,
            EventData::Text(room.to_owned()),
            true,
        ),
    };
    (Event::in_room(name, room, data), leave)
}

/// Identifies a handler registered with [`crate::Im::on`], to remove it with
/// [`crate::Im::off`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(u64);

type Handler = Arc<dyn Fn(&Event) + Send + Sync + 'static>;

/// The handlers and the broadcast behind `events()`.
pub(crate) struct Emitter {
    handlers: Mutex<HandlerTable>,
    broadcast: broadcast::Sender<Event>,
}

#[derive(Default)]
struct HandlerTable {
    next: u64,
    by_id: HashMap<u64, (EventName, Handler)>,
}

/// Events buffered for each `events()` receiver before it lags.
const BROADCAST_CAPACITY: usize = 4096;

impl Emitter {
    pub(crate) fn new() -> Self {
        Self {
            handlers: Mutex::new(HandlerTable::default()),
            broadcast: broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }

    pub(crate) fn on(&self, name: EventName, handler: Handler) -> HandlerId {
        let mut table = lock(&self.handlers);
        table.next += 1;
        let id = table.next;
        table.by_id.insert(id, (name, handler));
        HandlerId(id)
    }

    pub(crate) fn off(&self, id: HandlerId) -> bool {
        lock(&self.handlers).by_id.remove(&id.0).is_some()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.broadcast.subscribe()
    }

    /// Delivers `event` to its handlers (in registration order) and to `events()`.
    pub(crate) fn emit(&self, event: Event) {
        // Snapshot under the lock, call without it: a handler may call on/off.
        let mut handlers: Vec<(u64, Handler)> = lock(&self.handlers)
            .by_id
            .iter()
            .filter(|(_, (name, _))| *name == event.name)
            .map(|(id, (_, h))| (*id, Arc::clone(h)))
            .collect();
        handlers.sort_by_key(|(id, _)| *id);
        for (id, handler) in handlers {
            if catch_unwind(AssertUnwindSafe(|| handler(&event))).is_err() {
                tracing::error!(
                    event = event.name.as_str(),
                    handler = id,
                    "an event handler panicked; the other handlers still get the event"
                );
            }
        }
        // No receiver is not an error.
        let _ = self.broadcast.send(event);
    }
}

/// What [`split_messages`] does with the user's own messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnMessages {
    /// Left out: this client sent them and already has them (live frames, gap fill).
    Skip,
    /// Delivered with `flow: out`: the history of a room this client had not entered, where
    /// the user's earlier messages belong in the chat as much as anyone's.
    Deliver,
}

/// Turns the new messages of one room (already de-duplicated, oldest first) into events:
/// one event per message type per batch, in order of each type's first message, `flow` set,
/// own messages as `own` says, and one `t_push_stopped` per stop-push message. A type's batch
/// heavier than [`EVENT_WEIGHT_MAX`] goes on in a new event, so no event holds much memory.
pub(crate) fn split_messages(
    room: &str,
    list: Vec<Message>,
    me: Option<&str>,
    own: OwnMessages,
) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    // Per message event name: the index of its open batch in `events` and that batch's weight.
    let mut open: HashMap<EventName, (usize, usize)> = HashMap::new();
    for mut message in list {
        message.flow = Flow::In;
        if me.is_some_and(|me| me == message.from) {
            if own == OwnMessages::Skip {
                continue;
            }
            message.flow = Flow::Out;
        }
        let name = match &message.body {
            Body::Text(_) => EventName::TextMessageReceived,
            Body::Custom(c) if c.data == PUSH_STOPPED => {
                events.push(Event::in_room(
                    EventName::PushStopped,
                    room,
                    EventData::Text(c.description.clone()),
                ));
                continue;
            }
            Body::Custom(_) => EventName::CustomMessageReceived,
            Body::Image(_) => EventName::ImageMessageReceived,
            Body::GroupTip(t) if t.operation_type == GroupTipPayload::JOIN => {
                EventName::RemoteUserJoin
            }
            Body::GroupTip(t) if t.operation_type == GroupTipPayload::QUIT => {
                EventName::RemoteUserLeave
            }
            // Other tips (kick, admin, profile) have no TWebLive event.
            Body::GroupTip(_) => continue,
            Body::GroupSystemNotice(_) => EventName::GroupSystemNotice,
        };
        let w = weight(&message);
        match open.get_mut(&name) {
            Some((index, total)) if *total + w <= EVENT_WEIGHT_MAX => {
                if let EventData::Messages(batch) = &mut events[*index].data {
                    batch.push(message);
                    *total += w;
                }
            }
            _ => {
                open.insert(name, (events.len(), w));
                events.push(Event::in_room(
                    name,
                    room,
                    EventData::Messages(vec![message]),
                ));
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::{CustomPayload, Priority, TextPayload};

    pub(crate) fn msg(seq: u64, from: &str, body: Body) -> Message {
        Message {
            id: format!("GROUPr-{seq}-1"),
            body,
            to: "r".into(),
            from: from.into(),
            nick: String::new(),
            avatar: String::new(),
            time: 1,
            sequence: seq,
            priority: Priority::Normal,
            flow: Flow::Out,
            conversation_type: "GROUP".into(),
            conversation_id: "GROUPr".into(),
        }
    }

    fn text(seq: u64, from: &str) -> Message {
        msg(
            seq,
            from,
            Body::Text(TextPayload {
                text: format!("t{seq}"),
            }),
        )
    }

    fn custom(seq: u64, data: &str, description: &str) -> Message {
        msg(
            seq,
            "bob",
            Body::Custom(CustomPayload {
                data: data.into(),
                description: description.into(),
                extension: String::new(),
            }),
        )
    }

    fn tip(op: u8, user: &str) -> Message {
        msg(
            0,
            user,
            Body::GroupTip(GroupTipPayload {
                operation_type: op,
                user_id_list: vec![user.into()],
            }),
        )
    }

    #[test]
    fn names_round_trip() {
        for name in EventName::ALL {
            assert_eq!(name.as_str().parse::<EventName>(), Ok(name));
        }
        assert!("t_nope".parse::<EventName>().is_err());
    }

    #[test]
    fn splits_by_type_in_batches() {
        let list = vec![
            text(1, "bob"),
            custom(2, "like", ""),
            text(3, "carol"),
            tip(1, "dave"),
            tip(2, "erin"),
            custom(4, "gift", "rose"),
        ];
        let events = split_messages("r", list, Some("alice"), OwnMessages::Skip);
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                EventName::TextMessageReceived,
                EventName::CustomMessageReceived,
                EventName::RemoteUserJoin,
                EventName::RemoteUserLeave
            ]
        );
        assert_eq!(events[0].messages().len(), 2);
        assert_eq!(events[1].messages().len(), 2);
        assert!(events
            .iter()
            .flat_map(|e| e.messages())
            .all(|m| m.flow == Flow::In));
        assert!(events.iter().all(|e| e.room_id.as_deref() == Some("r")));
    }

    #[test]
    fn own_messages_are_left_out_unless_history() {
        let list = || vec![text(1, "alice"), text(2, "bob")];
        let events = split_messages("r", list(), Some("alice"), OwnMessages::Skip);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].messages().len(), 1);
        assert_eq!(events[0].messages()[0].from, "bob");
        // A first enter's history keeps them, marked as sent by this user.
        let events = split_messages("r", list(), Some("alice"), OwnMessages::Deliver);
        let flows: Vec<_> = events[0].messages().iter().map(|m| m.flow).collect();
        assert_eq!(flows, [Flow::Out, Flow::In]);
        // A guest has no own messages.
        let events = split_messages("r", vec![text(1, "alice")], None, OwnMessages::Skip);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn heavy_batches_are_split_into_light_events_in_order() {
        let list: Vec<Message> = (1..=500)
            .map(|seq| {
                msg(
                    seq,
                    "bob",
                    Body::Text(TextPayload {
                        text: "x".repeat(200),
                    }),
                )
            })
            .chain([custom(501, "like", "")])
            .collect();
        let events = split_messages("r", list, None, OwnMessages::Skip);
        assert!(events.len() > 5, "{} events", events.len());
        let texts: Vec<u64> = events
            .iter()
            .filter(|e| e.name == EventName::TextMessageReceived)
            .flat_map(|e| e.messages().iter().map(|m| m.sequence))
            .collect();
        assert_eq!(texts, (1..=500).collect::<Vec<_>>());
        for e in &events {
            let w: usize = e.messages().iter().map(weight).sum();
            assert!(w <= EVENT_WEIGHT_MAX, "{w}");
        }
        // The custom message, last, comes after every text batch.
        assert_eq!(
            events.last().map(|e| e.name),
            Some(EventName::CustomMessageReceived)
        );
    }

    #[test]
    fn a_system_notice_is_its_own_message_event_in_order() {
        use liveroom_proto::message::SYSTEM_SENDER;
        use liveroom_proto::GroupSystemNoticePayload;
        let notice = msg(
            2,
            SYSTEM_SENDER,
            Body::GroupSystemNotice(GroupSystemNoticePayload {
                operation_type: GroupSystemNoticePayload::CUSTOM,
                user_defined_field: "doors open".into(),
                operator_id: "boss".into(),
            }),
        );
        let events = split_messages(
            "r",
            vec![text(1, "bob"), notice, text(3, "bob")],
            Some("boss"),
            OwnMessages::Skip,
        );
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [EventName::TextMessageReceived, EventName::GroupSystemNotice]
        );
        assert!(EventName::GroupSystemNotice.is_message_event());
        let v = serde_json::to_value(&events[1]).unwrap();
        assert_eq!(v["name"], "t_group_system_notice");
        assert_eq!(v["roomID"], "r");
        assert_eq!(v["data"][0]["type"], "TIMGroupSystemNoticeElem");
        assert_eq!(v["data"][0]["payload"]["operationType"], 255);
        assert_eq!(v["data"][0]["payload"]["userDefinedField"], "doors open");
        assert_eq!(v["data"][0]["flow"], "in", "the operator is not its sender");
    }

    #[test]
    fn push_stopped_becomes_its_own_event() {
        let events = split_messages(
            "r",
            vec![custom(1, "like", ""), custom(2, PUSH_STOPPED, "bye")],
            None,
            OwnMessages::Skip,
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name, EventName::CustomMessageReceived);
        assert_eq!(events[0].messages().len(), 1);
        assert_eq!(events[1].name, EventName::PushStopped);
        assert_eq!(events[1].text(), Some("bye"));
    }

    #[test]
    fn event_wire_shape() {
        let ev = Event::in_room(EventName::PushStopped, "r", EventData::Text("bye".into()));
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "t_push_stopped", "roomID": "r", "data": "bye"})
        );
        let ready = serde_json::to_value(Event::new(EventName::ImReady, EventData::None)).unwrap();
        assert_eq!(
            ready,
            serde_json::json!({"name": "t_im_ready", "data": null})
        );
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn a_reconnecting_state_keeps_the_seed_string_and_adds_the_next_try() {
        let mut ev = Event::new(
            EventName::NetStateChange,
            EventData::Text("connecting".into()),
        );
        ev.next_try = Some(NextTry {
            attempt: 2,
            in_ms: 1500,
            at: 1_700_000_000_000,
        });
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "t_net_state_change", "data": "connecting",
                "nextTry": {"attempt": 2, "inMs": 1500, "at": 1_700_000_000_000u64}})
        );
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn moderation_pushes_become_seed_style_events() {
        let (ev, leave) = room_event(
            "r",
            RoomEvent::MessageDeleted {
                message_id: "m1".into(),
            },
        );
        assert!(!leave);
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            serde_json::json!({"name": "t_message_deleted", "roomID": "r",
                               "data": {"roomID": "r", "messageID": "m1"}})
        );
        let (ev, leave) = room_event(
            "r",
            RoomEvent::Kicked {
                user_id: "u".into(),
                reason: "spam".into(),
                banned: true,
                until: None,
            },
        );
        assert!(leave);
        assert_eq!(ev.name, EventName::KickedFromRoom);
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["data"]["banned"], true);
        assert_eq!(v["data"]["until"], serde_json::Value::Null);
        let (ev, leave) = room_event("r", RoomEvent::Dismissed);
        assert!(leave);
        assert_eq!(ev.text(), Some("r"));
        // Objects survive a round trip through the untagged payload.
        let back: Event = serde_json::from_value(v).unwrap();
        assert!(matches!(back.data, EventData::Object(_)));
    }

    #[test]
    fn panicking_handler_does_not_break_others() {
        let emitter = Emitter::new();
        let hits = Arc::new(Mutex::new(Vec::new()));
        emitter.on(EventName::ImReady, Arc::new(|_| panic!("boom")));
        let h = Arc::clone(&hits);
        let id = emitter.on(EventName::ImReady, Arc::new(move |e| lock(&h).push(e.name)));
        let mut rx = emitter.subscribe();
        emitter.emit(Event::new(EventName::ImReady, EventData::None));
        assert_eq!(lock(&hits).len(), 1);
        assert!(rx.try_recv().is_ok());
        assert!(emitter.off(id));
        assert!(!emitter.off(id));
        emitter.emit(Event::new(EventName::ImReady, EventData::None));
        assert_eq!(lock(&hits).len(), 1);
    }
}
