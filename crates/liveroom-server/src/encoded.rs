//! A message encoded once: its JSON, shared by the room's history, the store, the fan-out's
//! frames and every `enter_room` reply that carries it, and never serialized again.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// One message's JSON, reference-counted: cloning it copies a pointer.
#[derive(Debug, Clone)]
pub(crate) struct Encoded(Arc<RawValue>);

impl Encoded {
    /// Encodes `value` (a message).
    pub(crate) fn new<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| Self(Arc::from(raw)))
    }

    /// Takes JSON read back from the store, checking that it is JSON.
    pub(crate) fn parse(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(|raw| Self(Arc::from(raw)))
    }

    /// The JSON text.
    pub(crate) fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for Encoded {
    /// Written as it is, not as a string: the message itself.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawValue::serialize(&self.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_the_json_it_holds() {
        let e = Encoded::new(&serde_json::json!({"a": [1, "x"]})).unwrap();
        assert_eq!(e.as_str(), r#"{"a":[1,"x"]}"#);
        let list = serde_json::to_string(&vec![e.clone(), e]).unwrap();
        assert_eq!(list, r#"[{"a":[1,"x"]},{"a":[1,"x"]}]"#);
        assert!(Encoded::parse("{not json".into()).is_err());
    }
}
