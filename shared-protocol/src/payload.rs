//! [`Payload`]: a game mode's intent, event, config or state as it travels
//! inside a framework message.
//!
//! The framework does not know a mode's types, so on the wire a payload is
//! self-delimiting in both codecs: in JSON it is the mode's own JSON value,
//! inlined (`{"intent": {"seq": 1, "intent": {"move_piece": {…}}}}`); in
//! postcard it is a byte string (varint length, then the postcard encoding of
//! the mode's value). A decoder that does not know the mode keeps the
//! payload as it came ([`Payload::decode`] turns it into the mode's type
//! later); a server that produced the value keeps it typed and encodes it
//! straight into either codec.

use crate::codec::DecodeError;
use crate::walk::{self, Variant};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A typed value a payload can carry: anything serde can encode.
pub trait ModeValue: erased_serde::Serialize + Any + fmt::Debug + Send + Sync {}
impl<T: Serialize + Any + fmt::Debug + Send + Sync> ModeValue for T {}
erased_serde::serialize_trait_object!(ModeValue);

/// Many typed values behind one allocation (a tick's mode events): a
/// payload can be one of them by index.
pub trait ModeValues: Any + fmt::Debug + Send + Sync {
    fn value(&self, index: usize) -> Option<&dyn ModeValue>;
}

impl<T: ModeValue> ModeValues for Vec<T> {
    fn value(&self, index: usize) -> Option<&dyn ModeValue> {
        self.get(index).map(|v| v as &dyn ModeValue)
    }
}

#[derive(Clone)]
enum Repr {
    /// Nothing: `{}` in JSON, zero bytes in postcard. A config or state
    /// payload that is empty means "the mode's defaults".
    Empty,
    Json(Box<RawValue>),
    Postcard(Box<[u8]>),
    Typed(Arc<dyn ModeValue>),
    /// Value `index` of a shared batch: no allocation of its own.
    Shared(Arc<dyn ModeValues>, u32),
}

/// A mode's value inside a framework message. See the module docs.
#[derive(Clone)]
pub struct Payload(Repr);

impl Default for Payload {
    fn default() -> Self {
        Payload(Repr::Empty)
    }
}

impl Payload {
    /// An empty payload (`{}`).
    pub fn empty() -> Payload {
        Payload(Repr::Empty)
    }

    /// A typed value, encoded into whichever codec the message goes out in.
    /// A payload given here stays itself (never a payload of a payload).
    pub fn of<T: ModeValue>(value: T) -> Payload {
        if let Some(p) = (&value as &dyn Any).downcast_ref::<Payload>() {
            return p.clone();
        }
        Payload(Repr::Typed(Arc::new(value)))
    }

    /// Value `index` of `batch` (which must hold it).
    pub fn shared(batch: Arc<dyn ModeValues>, index: u32) -> Payload {
        Payload(Repr::Shared(batch, index))
    }

    /// The typed value, if this payload holds one.
    fn typed(&self) -> Option<&dyn ModeValue> {
        match &self.0 {
            Repr::Typed(v) => Some(&**v),
            Repr::Shared(batch, i) => batch.value(*i as usize),
            _ => None,
        }
    }

    /// A payload exactly as a JSON client would send it.
    pub fn from_json(json: &str) -> Result<Payload, DecodeError> {
        RawValue::from_string(json.to_owned())
            .map(|raw| Payload(Repr::Json(raw)))
            .map_err(|e| DecodeError::Malformed {
                reason: e.to_string(),
            })
    }

    /// A payload exactly as a postcard client would send it.
    pub fn from_postcard(bytes: Vec<u8>) -> Payload {
        Payload(Repr::Postcard(bytes.into_boxed_slice()))
    }

    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Empty => true,
            Repr::Postcard(b) => b.is_empty(),
            Repr::Json(raw) => raw.get().trim() == "{}",
            Repr::Typed(_) | Repr::Shared(..) => false,
        }
    }

    /// True when this payload was built with [`Payload::of`].
    pub fn is_typed(&self) -> bool {
        self.typed().is_some()
    }

    /// The typed value, when this payload was built with [`Payload::of`].
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.typed()
            .and_then(|v| (v as &dyn Any).downcast_ref::<T>())
    }

    /// The mode's value. An empty payload decodes as `{}` (a config struct
    /// with `#[serde(default)]` takes its defaults).
    pub fn decode<T: DeserializeOwned + Clone + Any>(&self) -> Result<T, DecodeError> {
        let malformed = |e: &dyn fmt::Display| DecodeError::Malformed {
            reason: e.to_string(),
        };
        match &self.0 {
            Repr::Empty => serde_json::from_str("{}").map_err(|e| malformed(&e)),
            Repr::Postcard(b) if b.is_empty() => {
                serde_json::from_str("{}").map_err(|e| malformed(&e))
            }
            Repr::Json(raw) => serde_json::from_str(raw.get()).map_err(|e| malformed(&e)),
            Repr::Postcard(bytes) => {
                let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| malformed(&e))?;
                if !rest.is_empty() {
                    return Err(DecodeError::Malformed {
                        reason: format!("{} trailing bytes in a mode payload", rest.len()),
                    });
                }
                Ok(value)
            }
            Repr::Typed(_) | Repr::Shared(..) => {
                let Some(v) = self.typed() else {
                    return Err(DecodeError::Malformed {
                        reason: "a shared payload's index is out of its batch".into(),
                    });
                };
                match (v as &dyn Any).downcast_ref::<T>() {
                    Some(t) => Ok(t.clone()),
                    None => {
                        let bytes = postcard::to_stdvec(v).map_err(|e| malformed(&e))?;
                        postcard::from_bytes(&bytes).map_err(|e| malformed(&e))
                    }
                }
            }
        }
    }

    /// Encodes a typed value inline: in postcard without the length prefix
    /// a payload has inside a message (a room's log stores intents this
    /// way). Only typed payloads, and JSON ones into JSON, can be.
    pub fn serialize_inline<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.typed() {
            Some(v) => v.serialize(s),
            None if s.is_human_readable() => self.serialize(s),
            None => Err(serde::ser::Error::custom(
                "only a typed payload can be encoded inline",
            )),
        }
    }

    /// Which variant of the mode's enum this is, read without decoding the
    /// rest: the JSON object's only key, the postcard variant index, or
    /// both for a typed value. `None` when the payload is no enum.
    pub fn variant(&self) -> Option<Variant> {
        match &self.0 {
            Repr::Empty => None,
            Repr::Json(raw) => walk::json_variant(raw.get()),
            Repr::Postcard(bytes) => walk::postcard_variant(bytes),
            Repr::Typed(_) | Repr::Shared(..) => self.typed().and_then(walk::variant_of),
        }
    }

    /// The payload as a JSON value (typed values are encoded; postcard
    /// bytes cannot be, without their type).
    pub fn to_json_value(&self) -> Result<serde_json::Value, String> {
        match &self.0 {
            Repr::Empty => Ok(serde_json::Value::Object(serde_json::Map::new())),
            Repr::Json(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string()),
            Repr::Typed(_) | Repr::Shared(..) => match self.typed() {
                Some(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
                None => Err("a shared payload's index is out of its batch".into()),
            },
            Repr::Postcard(b) if b.is_empty() => {
                Ok(serde_json::Value::Object(serde_json::Map::new()))
            }
            Repr::Postcard(_) => Err("a postcard payload cannot be shown as JSON".into()),
        }
    }

    /// The payload's postcard bytes (typed values are encoded; JSON
    /// cannot be, without its type).
    pub fn to_postcard(&self) -> Result<Vec<u8>, String> {
        match &self.0 {
            Repr::Empty => Ok(Vec::new()),
            Repr::Postcard(b) => Ok(b.to_vec()),
            Repr::Typed(_) | Repr::Shared(..) => match self.typed() {
                Some(v) => postcard::to_stdvec(v).map_err(|e| e.to_string()),
                None => Err("a shared payload's index is out of its batch".into()),
            },
            Repr::Json(raw) if raw.get().trim() == "{}" => Ok(Vec::new()),
            Repr::Json(_) => Err("a JSON payload cannot be re-encoded as postcard".into()),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Empty => f.write_str("{}"),
            Repr::Json(raw) => write!(f, "json {}", raw.get()),
            Repr::Postcard(b) => write!(f, "postcard {b:02x?}"),
            Repr::Typed(v) => v.fmt(f),
            Repr::Shared(batch, i) => match batch.value(*i as usize) {
                Some(v) => v.fmt(f),
                None => write!(f, "<index {i} out of its batch>"),
            },
        }
    }
}

/// Equal when they encode the same: as JSON where both can be shown as
/// JSON, else as postcard bytes.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        if let (Ok(a), Ok(b)) = (self.to_json_value(), other.to_json_value()) {
            return a == b;
        }
        matches!((self.to_postcard(), other.to_postcard()), (Ok(a), Ok(b)) if a == b)
    }
}
impl Eq for Payload {}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match &self.0 {
                Repr::Empty => serde_json::Map::new().serialize(s),
                Repr::Json(raw) => raw.serialize(s),
                Repr::Typed(v) => (**v).serialize(s),
                Repr::Shared(..) => match self.typed() {
                    Some(v) => v.serialize(s),
                    None => Err(serde::ser::Error::custom(
                        "a shared payload's index is out of its batch",
                    )),
                },
                Repr::Postcard(b) if b.is_empty() => serde_json::Map::new().serialize(s),
                Repr::Postcard(_) => Err(serde::ser::Error::custom(
                    "a postcard payload cannot be encoded as JSON",
                )),
            }
        } else {
            match &self.0 {
                Repr::Postcard(b) => s.serialize_bytes(b),
                _ => {
                    let bytes = self.to_postcard().map_err(serde::ser::Error::custom)?;
                    s.serialize_bytes(&bytes)
                }
            }
        }
    }
}

struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Payload;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mode payload as a byte string")
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload::from_postcard(v.to_vec()))
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
        Ok(Payload::from_postcard(v))
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            Box::<RawValue>::deserialize(d).map(|raw| Payload(Repr::Json(raw)))
        } else {
            d.deserialize_byte_buf(BytesVisitor)
        }
    }
}

/// Merges a framework struct's fields and a mode's JSON object into one
/// object: how configs and room states look in JSON.
pub(crate) fn merged_json<S: Serializer>(
    fields: impl Serialize,
    game: &Payload,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::Error;
    let serde_json::Value::Object(mut map) =
        serde_json::to_value(fields).map_err(S::Error::custom)?
    else {
        return Err(S::Error::custom("framework fields must be an object"));
    };
    match game.to_json_value().map_err(S::Error::custom)? {
        serde_json::Value::Object(extra) => {
            for (k, v) in extra {
                map.entry(k).or_insert(v);
            }
        }
        _ => {
            return Err(S::Error::custom(
                "a mode's config and state must be objects",
            ));
        }
    }
    map.serialize(s)
}

/// Splits one JSON object into the framework's fields (`keys`) and the
/// rest, which is the mode's payload.
pub(crate) fn split_json<'de, D: Deserializer<'de>, F: DeserializeOwned>(
    d: D,
    keys: &[&str],
) -> Result<(F, Payload), D::Error> {
    use serde::de::Error;
    let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    let mut own = serde_json::Map::new();
    for k in keys {
        if let Some(v) = map.remove(*k) {
            own.insert((*k).to_owned(), v);
        }
    }
    let fields =
        serde_json::from_value(serde_json::Value::Object(own)).map_err(D::Error::custom)?;
    let game = if map.is_empty() {
        Payload::empty()
    } else {
        let text = serde_json::to_string(&map).map_err(D::Error::custom)?;
        Payload::from_json(&text).map_err(D::Error::custom)?
    };
    Ok((fields, game))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Game {
        Move { to: u32 },
        Say { text: String },
    }

    #[test]
    fn a_typed_payload_reads_back_from_either_codec() {
        let p = Payload::of(Game::Say { text: "hi".into() });
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"say":{"text":"hi"}}"#);
        let back: Payload = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.decode::<Game>().unwrap(),
            Game::Say { text: "hi".into() }
        );
        let bytes = postcard::to_stdvec(&p).unwrap();
        assert_eq!(bytes, [4, 1, 2, b'h', b'i']);
        let back: Payload = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            back.decode::<Game>().unwrap(),
            Game::Say { text: "hi".into() }
        );
        assert_eq!(back, p);
    }

    #[test]
    fn the_variant_is_read_without_the_type() {
        let typed = Payload::of(Game::Say { text: "x".into() });
        let json = Payload::from_json(r#"{"say": {"text": "x"}}"#).unwrap();
        let bytes = Payload::from_postcard(typed.to_postcard().unwrap());
        assert_eq!(json.variant(), Some(Variant::Name("say".into())));
        assert_eq!(bytes.variant(), Some(Variant::Index(1)));
        assert_eq!(
            typed.variant(),
            Some(Variant::Both {
                index: 1,
                name: "say"
            })
        );
    }

    #[test]
    fn trailing_bytes_and_wrong_shapes_are_malformed() {
        let mut bytes = Payload::of(Game::Move { to: 3 }).to_postcard().unwrap();
        bytes.push(0);
        assert!(Payload::from_postcard(bytes).decode::<Game>().is_err());
        assert!(
            Payload::from_json(r#"{"fly":{}}"#)
                .unwrap()
                .decode::<Game>()
                .is_err()
        );
    }
}
