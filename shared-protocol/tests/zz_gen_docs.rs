mod common;
use common::*;
use tickroom_protocol::*;

fn hex(b: &[u8]) -> String { b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ") }

#[test]
fn generate() {
    println!("=== CLIENT");
    for m in client_samples() {
        println!("--- {} {}", client_index(&m), json_tag(&m));
        println!("{}", serde_json::to_string(&m).unwrap());
        println!("{}", hex(&Codec::Postcard.encode(&m).unwrap()));
    }
    println!("=== INTENT");
    for (k, i) in intent_samples().into_iter().enumerate() {
        let idx = intent_index(&i); let tag = json_tag(&i);
        let m = ClientMessage::Intent { seq: 10 + k as u64, intent: i };
        println!("--- {} {}", idx, tag);
        println!("{}", serde_json::to_string(&m).unwrap());
        println!("{}", hex(&Codec::Postcard.encode(&m).unwrap()));
    }
    println!("=== SERVER");
    for m in server_samples() {
        println!("--- {} {}", server_index(&m), json_tag(&m));
        println!("{}", serde_json::to_string(&m).unwrap());
        println!("{}", serde_json::to_string_pretty(&m).unwrap());
        println!("{}", hex(&Codec::Postcard.encode(&m).unwrap()));
    }
    println!("=== EVENT");
    for e in event_samples() {
        println!("--- {} {}", event_index(&e), json_tag(&e));
        println!("{}", serde_json::to_string(&e).unwrap());
    }
    println!("=== CONFIG");
    println!("{}", serde_json::to_string_pretty(&RoomConfig::default()).unwrap());
    println!("=== CODES");
    for (i, c) in ErrorCode::ALL.iter().enumerate() { println!("| {i} | `{}` | {} |", c.as_str(), c.when()); }
}
