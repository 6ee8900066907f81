//! Walks over values of types the framework does not know (a mode's
//! intents, events, configs): which enum variant a value is, and whether
//! its strings and lists stay inside the decode [`Limits`]. Both are serde
//! serializers that write nothing.

use crate::codec::DecodeError;
use crate::limits::Limits;
use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt;

/// Which variant of a mode's enum a payload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    /// From JSON: the object's only key.
    Name(String),
    /// From postcard: the leading varint.
    Index(u32),
    /// From a typed value: both.
    Both { index: u32, name: &'static str },
}

impl Variant {
    /// True when this names variant `index` called `name`.
    pub fn is(&self, index: u32, name: &str) -> bool {
        match self {
            Variant::Name(n) => n == name,
            Variant::Index(i) => *i == index,
            Variant::Both { index: i, .. } => *i == index,
        }
    }
}

/// The only key of a JSON object, or `None` when `json` is no object with
/// exactly one key.
pub(crate) fn json_variant(json: &str) -> Option<Variant> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct OnlyKey;
    impl<'de> Visitor<'de> for OnlyKey {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            let Some(key) = map.next_key::<String>()? else {
                return Ok(None);
            };
            map.next_value::<IgnoredAny>()?;
            let mut more = false;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                more = true;
            }
            Ok((!more).then_some(key))
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(OnlyKey)
        .ok()
        .flatten()
        .map(Variant::Name)
}

/// The leading varint of postcard bytes: an enum's variant index.
pub(crate) fn postcard_variant(bytes: &[u8]) -> Option<Variant> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).ok().map(Variant::Index);
        }
    }
    None
}

#[derive(Debug)]
enum Probe {
    Found(u32, &'static str),
    NotAnEnum,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for Probe {}
impl ser::Error for Probe {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probe::NotAnEnum
    }
}

struct VariantProbe;

macro_rules! not_an_enum {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), Probe> { Err(Probe::NotAnEnum) })*
    };
}

impl ser::Serializer for VariantProbe {
    type Ok = ();
    type Error = Probe;
    type SerializeSeq = Impossible<(), Probe>;
    type SerializeTuple = Impossible<(), Probe>;
    type SerializeTupleStruct = Impossible<(), Probe>;
    type SerializeTupleVariant = Impossible<(), Probe>;
    type SerializeMap = Impossible<(), Probe>;
    type SerializeStruct = Impossible<(), Probe>;
    type SerializeStructVariant = Impossible<(), Probe>;

    not_an_enum!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_unit_variant(self, _: &'static str, i: u32, v: &'static str) -> Result<(), Probe> {
        Err(Probe::Found(i, v))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Probe> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        i: u32,
        v: &'static str,
        _: &T,
    ) -> Result<(), Probe> {
        Err(Probe::Found(i, v))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        i: u32,
        v: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Probe> {
        Err(Probe::Found(i, v))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Probe> {
        Err(Probe::NotAnEnum)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        i: u32,
        v: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Probe> {
        Err(Probe::Found(i, v))
    }
}

/// Which variant `value` is, when it is an enum.
pub fn variant_of<T: Serialize + ?Sized>(value: &T) -> Option<Variant> {
    match value.serialize(VariantProbe) {
        Err(Probe::Found(index, name)) => Some(Variant::Both { index, name }),
        _ => None,
    }
}

/// The variant names of an enum type, in index order, read from its
/// `Deserialize` impl without any input; `None` for a type that is not an
/// enum.
pub fn variant_names<T: serde::de::DeserializeOwned>() -> Option<&'static [&'static str]> {
    match T::deserialize(NamesProbe) {
        Err(NamesFound(names)) => names,
        Ok(_) => None,
    }
}

#[derive(Debug)]
struct NamesFound(Option<&'static [&'static str]>);

impl fmt::Display for NamesFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("variant names probe")
    }
}

impl std::error::Error for NamesFound {}
impl serde::de::Error for NamesFound {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NamesFound(None)
    }
}

struct NamesProbe;

impl<'de> serde::de::Deserializer<'de> for NamesProbe {
    type Error = NamesFound;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, NamesFound> {
        Err(NamesFound(None))
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, NamesFound> {
        Err(NamesFound(Some(variants)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Why a limits walk stopped.
#[derive(Debug)]
struct Stop(DecodeError);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for Stop {}
impl ser::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(DecodeError::Malformed {
            reason: msg.to_string(),
        })
    }
}

/// Checks every string, byte string, list and map in a value against the
/// limits; `field` is the name of the struct field being walked, which a
/// `FIELD_TOO_LONG` error names.
#[derive(Clone, Copy)]
struct LimitWalk<'a> {
    limits: &'a Limits,
    field: &'static str,
}

impl LimitWalk<'_> {
    fn string(self, len: usize) -> Result<(), Stop> {
        self.len(len, self.limits.max_string_bytes)
    }
    fn list(self, len: Option<usize>) -> Result<Self, Stop> {
        self.len(len.unwrap_or(0), self.limits.max_list_len)?;
        Ok(self)
    }
    fn len(self, len: usize, max: usize) -> Result<(), Stop> {
        if len > max {
            return Err(Stop(DecodeError::FieldTooLong {
                field: self.field,
                len,
                max,
            }));
        }
        Ok(())
    }
}

macro_rules! fine {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for LimitWalk<'a> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fine!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.string(v.len())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Stop> {
        self.string(v.len())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Stop> {
        self.list(len)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Stop> {
        self.list(len)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for LimitWalk<'_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                value.serialize(*self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}
elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for LimitWalk<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        key.serialize(*self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(*self)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for LimitWalk<'_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Stop> {
                value.serialize(LimitWalk { field: key, ..*self })
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}
fields!(SerializeStruct, SerializeStructVariant);

/// Checks the strings and lists of any value against the limits, naming
/// the innermost struct field in the error (`payload` outside any field).
pub fn check_value<T: Serialize + ?Sized>(value: &T, limits: &Limits) -> Result<(), DecodeError> {
    value
        .serialize(LimitWalk {
            limits,
            field: "payload",
        })
        .map_err(|Stop(e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    enum Game {
        Say { text: String },
        Roll { dice: Vec<u8> },
    }

    #[test]
    fn variant_names_come_from_the_type_alone() {
        use crate::board;
        let names = variant_names::<board::Event>().unwrap();
        assert_eq!(names.first(), Some(&"piece_moved"));
        assert_eq!(names.last(), Some(&"chat_posted"));
        assert_eq!(names.len(), 8);
        let framework = variant_names::<crate::DomainEvent>().unwrap();
        assert_eq!(framework, crate::DomainEvent::NAMES);
        assert_eq!(variant_names::<u32>(), None);
        assert_eq!(variant_names::<board::Config>(), None);
    }

    #[test]
    fn the_walk_names_the_field_that_is_too_long() {
        let limits = Limits {
            max_string_bytes: 3,
            max_list_len: 2,
            ..Limits::CLIENT_FRAMES
        };
        let ok = Game::Say { text: "abc".into() };
        assert_eq!(check_value(&ok, &limits), Ok(()));
        let long = Game::Say {
            text: "abcd".into(),
        };
        assert_eq!(
            check_value(&long, &limits),
            Err(DecodeError::FieldTooLong {
                field: "text",
                len: 4,
                max: 3
            })
        );
        let many = Game::Roll {
            dice: vec![1, 2, 3],
        };
        assert!(matches!(
            check_value(&many, &limits),
            Err(DecodeError::FieldTooLong { field: "dice", .. })
        ));
    }

    #[test]
    fn postcard_variants_are_leading_varints() {
        assert_eq!(postcard_variant(&[3, 9]), Some(Variant::Index(3)));
        assert_eq!(postcard_variant(&[0x81, 0x01]), Some(Variant::Index(129)));
        assert_eq!(postcard_variant(&[0x80]), None);
        assert_eq!(json_variant(r#"{"a": 1, "b": 2}"#), None);
        assert_eq!(
            json_variant(r#"{"a": {}}"#),
            Some(Variant::Name("a".into()))
        );
    }
}
