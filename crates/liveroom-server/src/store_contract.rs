//! What every `RoomStore` must do, as tests run against each implementation (the SQLite
//! store's tests and the Redis store's call these with their own store).

use liveroom_proto::{Profile, RoomInfo};

use crate::store::{RoomStore, DELETIONS_KEPT};
use crate::test_support::record;

/// Deletions are remembered oldest first, the newest `DELETIONS_KEPT` of them.
pub(crate) async fn deletions_are_kept_oldest_first_up_to_the_cap(
    store: &dyn RoomStore,
    room: RoomInfo,
) {
    assert!(store.create_room(1, room).await.unwrap());
    let n = DELETIONS_KEPT as u64 + 4;
    for seq in 1..=n {
        store
            .delete_message(
                1,
                "r".into(),
                seq,
                format!("m{seq}"),
                record("delete_message", ""),
            )
            .await
            .unwrap();
    }
    let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
    assert_eq!(loaded.deleted.len(), DELETIONS_KEPT);
    assert_eq!(loaded.deleted.first(), Some(&(5, "m5".to_owned())));
    assert_eq!(loaded.deleted.last(), Some(&(n, format!("m{n}"))));
}

/// A profile never saved is empty (with its user ID); a saved one comes back whole, per app.
pub(crate) async fn profiles_round_trip(store: &dyn RoomStore) {
    let empty = store.profile(1, "u".into()).await.unwrap();
    assert_eq!(
        empty,
        Profile {
            user_id: "u".into(),
            ..Profile::default()
        }
    );
    let p = Profile {
        user_id: "u".into(),
        nick: "N".into(),
        avatar: "a".into(),
    };
    store.save_profile(1, p.clone()).await.unwrap();
    assert_eq!(store.profile(1, "u".into()).await.unwrap(), p);
    assert_eq!(store.profile(2, "u".into()).await.unwrap().nick, "");
    store.flush().await.unwrap();
}
