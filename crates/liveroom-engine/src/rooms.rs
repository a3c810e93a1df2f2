//! Per-room delivery state: the last sequence seen, so that a reconnect asks for exactly the
//! gap (`enter_room {since}`) and nothing is delivered twice.
//!
//! While an `enter_room` is in flight, live `messages` frames for that room may overtake its
//! reply (which carries the history). They are buffered and merged after the history, then
//! everything goes through one de-duplication by sequence: a message is new when its sequence
//! is above the room's last one. Group tips are not stored and carry sequence 0: they always
//! pass.
//!
//! The buffer is bounded ([`ENTER_BUFFER_MAX`]): the real server never lets live messages
//! overtake an enter reply, so a server that sends more before answering is misbehaving, and
//! the connection is dropped and re-established (gap fill by sequence) rather than buffering
//! without end. The rest of the state is one sequence per room the application entered;
//! frames for other rooms are ignored.

use std::collections::BTreeMap;

use liveroom_proto::Message;

/// Most live messages buffered for one room while its `enter_room` is in flight.
pub(crate) const ENTER_BUFFER_MAX: usize = 1024;

/// More than [`ENTER_BUFFER_MAX`] live messages overtook an enter reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BufferFull {
    /// The room being entered.
    pub(crate) room: String,
}

/// One room this engine is in (or entering).
#[derive(Debug, Default)]
struct RoomState {
    /// Highest sequence delivered (or skipped as own) in this room.
    last_seq: u64,
    /// An `enter_room` is in flight: live messages wait in `buffer`.
    entering: bool,
    /// The room was entered at least once (as opposed to only being entered now).
    joined: bool,
    buffer: Vec<Message>,
}

/// The rooms of one engine.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    map: BTreeMap<String, RoomState>,
}

impl Rooms {
    /// Rooms entered (not those whose first enter is still in flight), sorted.
    pub(crate) fn joined(&self) -> Vec<String> {
        self.map
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether `room` has been entered.
    pub(crate) fn contains(&self, room: &str) -> bool {
        self.map.get(room).is_some_and(|r| r.joined)
    }

    /// Whether `room` has been entered or is being entered.
    pub(crate) fn knows(&self, room: &str) -> bool {
        self.map.contains_key(room)
    }

    /// Entered rooms with their last sequence: what a reconnect re-enters with `since`.
    pub(crate) fn positions(&self) -> Vec<(String, u64)> {
        self.map
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(id, r)| (id.clone(), r.last_seq))
            .collect()
    }

    /// An `enter_room` for `room` is being sent: buffer its live messages until the reply.
    pub(crate) fn begin_enter(&mut self, room: &str) {
        let state = self.map.entry(room.to_owned()).or_default();
        state.entering = true;
    }

    /// The enter succeeded: returns the new messages of the history (after `since`) and of
    /// the live frames that overtook the reply, de-duplicated, oldest first.
    pub(crate) fn finish_enter(
        &mut self,
        room: &str,
        history: Vec<Message>,
        last_sequence: u64,
    ) -> Vec<Message> {
        let state = self.map.entry(room.to_owned()).or_default();
        state.entering = false;
        state.joined = true;
        let buffered = std::mem::take(&mut state.buffer);
        let mut fresh = dedup(&mut state.last_seq, history);
        // Everything up to the room's last sequence at entering has been offered: what the
        // history window no longer holds is gone, and must not be asked for again.
        state.last_seq = state.last_seq.max(last_sequence);
        fresh.extend(dedup(&mut state.last_seq, buffered));
        fresh
    }

    /// The enter failed: forget the room unless it was entered before.
    pub(crate) fn abort_enter(&mut self, room: &str) {
        if let Some(state) = self.map.get_mut(room) {
            if state.joined {
                state.entering = false;
                state.buffer.clear();
            } else {
                self.map.remove(room);
            }
        }
    }

    /// Leaves `room`: its messages are no longer delivered.
    pub(crate) fn remove(&mut self, room: &str) -> bool {
        self.map.remove(room).is_some()
    }

    /// Forgets a deleted message wherever it may still wait (the enter buffer). Delivery is
    /// de-duplicated by sequence, so no other cache holds message IDs.
    pub(crate) fn forget_message(&mut self, room: &str, message_id: &str) {
        if let Some(state) = self.map.get_mut(room) {
            state.buffer.retain(|m| m.id != message_id);
        }
    }

    /// Leaves every room.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Marks every entered room as being re-entered (reconnect).
    pub(crate) fn begin_reenter_all(&mut self) {
        for state in self.map.values_mut() {
            state.entering = true;
            state.buffer.clear();
        }
    }

    /// Live messages of `room`: returns those to deliver now (empty when buffered, unknown
    /// room, or all duplicates). Refuses (dropping the buffer) when the enter buffer would
    /// exceed [`ENTER_BUFFER_MAX`].
    pub(crate) fn accept(
        &mut self,
        room: &str,
        list: Vec<Message>,
    ) -> Result<Vec<Message>, BufferFull> {
        match self.map.get_mut(room) {
            None => Ok(Vec::new()),
            Some(state) if state.entering => {
                if state.buffer.len() + list.len() > ENTER_BUFFER_MAX {
                    state.buffer = Vec::new();
                    return Err(BufferFull {
                        room: room.to_owned(),
                    });
                }
                state.buffer.extend(list);
                Ok(Vec::new())
            }
            Some(state) => Ok(dedup(&mut state.last_seq, list)),
        }
    }
}

/// Keeps the messages whose sequence is above `last` (tips, sequence 0, always), advancing
/// `last`.
pub(crate) fn dedup(last: &mut u64, list: Vec<Message>) -> Vec<Message> {
    let mut fresh = Vec::with_capacity(list.len());
    for m in list {
        if m.sequence == 0 {
            fresh.push(m);
        } else if m.sequence > *last {
            *last = m.sequence;
            fresh.push(m);
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::message::Flow;
    use liveroom_proto::{Body, Priority, TextPayload};

    fn m(seq: u64) -> Message {
        Message {
            id: format!("GROUPr-{seq}-1"),
            body: Body::Text(TextPayload {
                text: seq.to_string(),
            }),
            to: "r".into(),
            from: "bob".into(),
            nick: String::new(),
            avatar: String::new(),
            time: 1,
            sequence: seq,
            priority: Priority::Normal,
            flow: Flow::In,
            conversation_type: "GROUP".into(),
            conversation_id: "GROUPr".into(),
        }
    }

    fn seqs(list: &[Message]) -> Vec<u64> {
        list.iter().map(|m| m.sequence).collect()
    }

    #[test]
    fn dedup_drops_old_and_keeps_tips() {
        let mut last = 3;
        let out = dedup(
            &mut last,
            vec![m(2), m(3), m(0), m(4), m(4), m(0), m(6), m(5)],
        );
        assert_eq!(seqs(&out), [0, 4, 0, 6]);
        assert_eq!(last, 6);
    }

    #[test]
    fn unknown_rooms_get_nothing() {
        let mut rooms = Rooms::default();
        assert!(rooms.accept("r", vec![m(1)]).unwrap().is_empty());
    }

    #[test]
    fn live_messages_overtaking_the_enter_reply_are_merged() {
        let mut rooms = Rooms::default();
        rooms.begin_enter("r");
        assert!(!rooms.contains("r"));
        assert!(rooms.accept("r", vec![m(4), m(5)]).unwrap().is_empty());
        let out = rooms.finish_enter("r", vec![m(1), m(2), m(3), m(4)], 4);
        assert_eq!(seqs(&out), [1, 2, 3, 4, 5]);
        assert!(rooms.contains("r"));
        assert_eq!(seqs(&rooms.accept("r", vec![m(5), m(6)]).unwrap()), [6]);
        assert_eq!(rooms.positions(), [("r".to_owned(), 6)]);
    }

    #[test]
    fn reconnect_gap_fill_has_no_duplicates() {
        let mut rooms = Rooms::default();
        rooms.begin_enter("r");
        rooms.finish_enter("r", vec![m(1), m(2)], 2);
        rooms.begin_reenter_all();
        // The server answers `since 2` with 3..5; a live 5 and 6 overtook the reply.
        rooms.accept("r", vec![m(5), m(6)]).unwrap();
        let out = rooms.finish_enter("r", vec![m(3), m(4), m(5)], 5);
        assert_eq!(seqs(&out), [3, 4, 5, 6]);
    }

    #[test]
    fn history_beyond_the_window_is_not_asked_again() {
        let mut rooms = Rooms::default();
        rooms.begin_enter("r");
        rooms.finish_enter("r", vec![], 40);
        assert_eq!(rooms.positions(), [("r".to_owned(), 40)]);
    }

    #[test]
    fn the_enter_buffer_is_bounded() {
        let mut rooms = Rooms::default();
        rooms.begin_enter("r");
        let batch = |from: u64| (from..from + 512).map(m).collect::<Vec<_>>();
        assert!(rooms.accept("r", batch(1)).is_ok());
        assert!(rooms.accept("r", batch(513)).is_ok());
        let full = rooms.accept("r", batch(1025)).unwrap_err();
        assert_eq!(full.room, "r");
        assert_eq!(rooms.map["r"].buffer.capacity(), 0, "the buffer is freed");
        // Once entered, live messages are delivered, never buffered.
        rooms.finish_enter("r", vec![], 0);
        assert_eq!(rooms.accept("r", batch(1)).unwrap().len(), 512);
    }

    #[test]
    fn failed_first_enter_forgets_the_room() {
        let mut rooms = Rooms::default();
        rooms.begin_enter("r");
        rooms.abort_enter("r");
        assert!(rooms.joined().is_empty());
        rooms.begin_enter("r");
        rooms.finish_enter("r", vec![], 0);
        rooms.begin_enter("r");
        rooms.abort_enter("r");
        assert_eq!(rooms.joined(), ["r"]);
    }
}
