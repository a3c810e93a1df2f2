//! What every `RoomStore` must do, as tests run against each implementation (the SQLite
//! store's tests and the Redis store's call these with their own store).

use liveroom_proto::{Profile, RoomInfo};

use crate::store::{RoomPage, RoomStore, DELETIONS_KEPT};
use crate::test_support::{record, room_info};

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

/// An account exists once opened (a login), imported or given a profile, per app; opening
/// keeps a stored profile; a revocation is only ever raised and survives profile writes.
pub(crate) async fn accounts_open_and_revoke(store: &dyn RoomStore) {
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        store.accounts(1, ids(&["a", "b", "c"])).await.unwrap(),
        [None, None, None]
    );
    assert_eq!(store.accounts(1, Vec::new()).await.unwrap(), []);

    // A login opens "a" with an empty profile, once.
    let opened = store.open_account(1, "a".into()).await.unwrap();
    assert_eq!(
        opened.profile,
        Profile {
            user_id: "a".into(),
            ..Profile::default()
        }
    );
    assert_eq!(opened.revoked_at, 0);
    assert_eq!(store.open_account(1, "a".into()).await.unwrap(), opened);

    // A profile write opens "b"; opening it then keeps the profile.
    let b = Profile {
        user_id: "b".into(),
        nick: "Bee".into(),
        avatar: "https://x/b.png".into(),
    };
    store.save_profile(1, b.clone()).await.unwrap();
    assert_eq!(store.open_account(1, "b".into()).await.unwrap().profile, b);

    let found = store.accounts(1, ids(&["a", "c", "b"])).await.unwrap();
    assert_eq!(found, [Some(opened.profile.clone()), None, Some(b.clone())]);
    assert_eq!(
        store.accounts(2, ids(&["a"])).await.unwrap(),
        [None],
        "apps apart"
    );

    // Revocations: raised, never lowered, kept through a profile write; they open "c".
    store.revoke_usersigs(1, "b".into(), 1_000).await.unwrap();
    store.revoke_usersigs(1, "b".into(), 900).await.unwrap();
    let renamed = Profile {
        nick: "Bea".into(),
        ..b
    };
    store.save_profile(1, renamed.clone()).await.unwrap();
    let got = store.open_account(1, "b".into()).await.unwrap();
    assert_eq!((got.profile, got.revoked_at), (renamed, 1_000));
    store.revoke_usersigs(1, "c".into(), 5).await.unwrap();
    assert!(store.accounts(1, ids(&["c"])).await.unwrap()[0].is_some());
    assert_eq!(
        store.open_account(1, "c".into()).await.unwrap().revoked_at,
        5
    );
    assert_eq!(
        store.open_account(2, "c".into()).await.unwrap().revoked_at,
        0
    );
    store.flush().await.unwrap();
}

/// An app's rooms are listed oldest first, page by page, each app its own; a dismissed room
/// leaves the list, a new one joins its end, and a position taken before stays good.
pub(crate) async fn rooms_are_listed_page_by_page(store: &dyn RoomStore) {
    for id in ["a", "b", "c", "d", "e"] {
        assert!(store.create_room(1, room_info(id)).await.unwrap());
    }
    assert!(store.create_room(2, room_info("z")).await.unwrap());
    let (mut seen, mut after, mut pages) = (Vec::new(), 0, 0);
    loop {
        let page = store.list_rooms(1, after, 2).await.unwrap();
        assert_eq!(page.total, 5);
        seen.extend(page.rooms);
        pages += 1;
        if page.next == 0 {
            break;
        }
        after = page.next;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    let exact = store.list_rooms(1, 0, 5).await.unwrap();
    assert_eq!(
        (exact.rooms.len(), exact.next),
        (5, 0),
        "a full last page is the last"
    );

    let first = store.list_rooms(1, 0, 2).await.unwrap();
    assert_eq!(first.rooms, ["a", "b"]);
    store
        .dismiss_room(1, "c".into(), record("dismiss_room", ""))
        .await
        .unwrap();
    assert!(store.create_room(1, room_info("f")).await.unwrap());
    let rest = store.list_rooms(1, first.next, 10).await.unwrap();
    assert_eq!(rest.rooms, ["d", "e", "f"]);
    assert_eq!((rest.total, rest.next), (5, 0));
    assert_eq!(store.list_rooms(2, 0, 10).await.unwrap().rooms, ["z"]);
    assert_eq!(
        store.list_rooms(3, 0, 10).await.unwrap(),
        RoomPage::default()
    );
}

/// A room handed to another owner is theirs in its profile (the rest of it kept) and in
/// both users' counts of rooms owned, with its audit row.
pub(crate) async fn the_owner_changes_with_the_rooms_owned(store: &dyn RoomStore) {
    let mut r = room_info("r");
    r.notification = "kept".into();
    assert!(store.create_room(1, r).await.unwrap());
    assert!(store.create_room(1, room_info("s")).await.unwrap());
    store
        .change_owner(1, "r".into(), "n".into(), record("change_owner", ""))
        .await
        .unwrap();
    let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
    assert_eq!(loaded.info.owner_id, "n");
    assert_eq!(loaded.info.notification, "kept");
    assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 1);
    assert_eq!(store.rooms_owned(1, "n".into()).await.unwrap(), 1);
    let log = store.audit_log(1, "r".into(), 10).await.unwrap();
    assert_eq!(log[0].action, "change_owner");
    store
        .dismiss_room(1, "r".into(), record("dismiss_room", ""))
        .await
        .unwrap();
    assert_eq!(store.rooms_owned(1, "n".into()).await.unwrap(), 0);
    assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 1);
}
