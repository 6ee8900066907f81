//! What `Modes::add` refuses: a mode event named like a framework event
//! (its JSON would read back as the framework's). An intent may share a
//! framework event's name: intents and events never meet on the wire.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParamItem;
use serde::{Deserialize, Serialize};
use tickroom_protocol::{ErrorBody, IntentSpec, RateClass, RoomConfig};
use tickroom_sim::{Actor, Applied, Mode, Modes, RoomCtx, Viewer, mode};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Settings {}

#[derive(Resource, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nothing;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Ask {
    MemberJoined {},
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Clash {
    Waved {},
    MemberLeft {},
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fine {
    Waved {},
}

const INTENTS: &[IntentSpec] = &[IntentSpec {
    name: "member_joined",
    rate: RateClass::Actions,
    durable: false,
    audited: false,
}];

macro_rules! a_mode {
    ($ty:ident, $name:literal, $event:ty) => {
        struct $ty;
        impl Mode for $ty {
            const NAME: &'static str = $name;
            const VERSION: u32 = 1;
            const INTENTS: &'static [IntentSpec] = INTENTS;
            type Config = Settings;
            type Intent = Ask;
            type Event = $event;
            type State = Nothing;
            type View = Nothing;
            type Param = Res<'static, Nothing>;

            fn initial_state(_: &RoomConfig, _: &Settings) -> Nothing {
                Nothing
            }
            fn insert(world: &mut World, _: &Settings, state: Nothing) {
                world.insert_resource(state);
            }
            fn read(_: &World) -> Nothing {
                Nothing
            }
            fn handle(
                _: &mut SystemParamItem<Self::Param>,
                _: &mut RoomCtx,
                _: Actor,
                _: &Ask,
            ) -> Result<Applied, ErrorBody> {
                Ok(Applied::Duplicate)
            }
            fn view(_: &World, _: Viewer) -> Nothing {
                Nothing
            }
        }
    };
}

a_mode!(Clashing, "clashing", Clash);
a_mode!(Polite, "polite", Fine);

#[test]
fn a_mode_event_named_like_a_framework_event_is_refused() {
    let mut modes = Modes::builtin();
    let err = modes.add(mode::<Clashing>()).unwrap_err();
    assert!(err.contains("event member_left"), "{err}");
    assert!(modes.get("clashing").is_none());
}

#[test]
fn an_intent_may_share_a_framework_events_name() {
    let mut modes = Modes::builtin();
    modes.add(mode::<Polite>()).unwrap();
    assert!(modes.get("polite").is_some());
}
