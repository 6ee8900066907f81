//! Join tokens (HS256 JWTs from the game's backend, carrying user id,
//! display name and role) and resume tokens (JWTs signed with this server's
//! own secret, which lives in the data dir so they outlive a restart).

use crate::conn::Identity;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickroom_protocol::{ErrorBody, ErrorCode, Role};

/// What a join token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The user id.
    pub sub: String,
    /// The display name; overrides the name given in `join_room`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ResumeClaims {
    /// Marks the token kind, so a join token can never pass as a resume token.
    typ: String,
    sid: String,
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    /// The join token's expiry, carried from token to token.
    #[serde(default)]
    not_after: Option<u64>,
    exp: u64,
}

const RESUME_TYPE: &str = "tickroom-resume";
const SEAT_TYPE: &str = "tickroom-seat";

/// A seat matchmaking holds for a player in a room, until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The room the seat is in (created by its first reserved player when
    /// matchmaking made it).
    pub room: String,
    /// The reservation's id: its seat in the room's matchmaking entry.
    pub id: String,
    /// The room's game mode.
    pub mode: String,
    /// The seat is given back at this time, Unix milliseconds; the
    /// reservation is refused from then on.
    pub until_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct SeatClaims {
    typ: String,
    #[serde(flatten)]
    seat: Reservation,
    exp: u64,
}

pub struct Tokens {
    join: Option<DecodingKey>,
    resume_encode: EncodingKey,
    resume_decode: DecodingKey,
    resume_ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("join_tokens", &self.join.is_some())
            .field("resume_ttl", &self.resume_ttl)
            .finish()
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 30;
    v.validate_aud = false;
    v
}

impl Tokens {
    /// `join_secret`: the HS256 secret join tokens are signed with, if the
    /// server accepts them. `server_secret`: this server's own key.
    pub fn new(join_secret: Option<&[u8]>, server_secret: &[u8], resume_ttl: Duration) -> Tokens {
        Tokens {
            join: join_secret.map(DecodingKey::from_secret),
            resume_encode: EncodingKey::from_secret(server_secret),
            resume_decode: DecodingKey::from_secret(server_secret),
            resume_ttl,
        }
    }

    pub fn accepts_join_tokens(&self) -> bool {
        self.join.is_some()
    }

    pub fn verify_join(&self, token: &str) -> Result<JoinClaims, ErrorBody> {
        let key = self.join.as_ref().ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::Unauthorized,
                "this server does not accept join tokens",
            )
        })?;
        jsonwebtoken::decode::<JoinClaims>(token, key, &validation())
            .map(|t| t.claims)
            .map_err(|e| {
                ErrorBody::new(
                    ErrorCode::Unauthorized,
                    format!("the join token is not valid: {e}"),
                )
            })
    }

    pub fn issue_resume(&self, identity: &Identity) -> String {
        let claims = ResumeClaims {
            typ: RESUME_TYPE.into(),
            sid: identity.session.clone(),
            sub: identity.user.clone(),
            name: identity.name.clone(),
            role: identity.role,
            not_after: identity.not_after,
            // Never past the join token the session started from.
            exp: (now_s() + self.resume_ttl.as_secs()).min(identity.not_after.unwrap_or(u64::MAX)),
        };
        // HS256 over a small struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.resume_encode)
            .unwrap_or_default()
    }

    /// The identity a resume token restores. An expired token is
    /// RESUME_FAILED (start a new session); a forged one is UNAUTHORIZED.
    pub fn verify_resume(&self, token: &str) -> Result<Identity, ErrorBody> {
        match jsonwebtoken::decode::<ResumeClaims>(token, &self.resume_decode, &validation()) {
            Ok(t) if t.claims.typ == RESUME_TYPE => Ok(Identity {
                user: t.claims.sub,
                name: t.claims.name,
                role: t.claims.role,
                session: t.claims.sid,
                not_after: t.claims.not_after,
            }),
            Ok(_) => Err(ErrorBody::new(
                ErrorCode::Unauthorized,
                "not a resume token",
            )),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => Err(
                ErrorBody::new(ErrorCode::ResumeFailed, "the resume token has expired"),
            ),
            Err(e) => Err(ErrorBody::new(
                ErrorCode::Unauthorized,
                format!("the resume token is not valid: {e}"),
            )),
        }
    }
}

impl Tokens {
    /// A seat reservation, signed with the key resume tokens use (a
    /// cluster's shared `auth.session_secret`), so any node can check it.
    pub fn issue_reservation(&self, seat: &Reservation) -> String {
        let claims = SeatClaims {
            typ: SEAT_TYPE.into(),
            seat: seat.clone(),
            exp: seat.until_ms.div_ceil(1000) + 60,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.resume_encode)
            .unwrap_or_default()
    }

    /// The seat a reservation holds: `RESERVATION_EXPIRED` once its time is
    /// up (to the millisecond: its seat may be someone else's by then),
    /// `UNAUTHORIZED` when it is not one.
    pub fn verify_reservation(&self, token: &str, now_ms: u64) -> Result<Reservation, ErrorBody> {
        let claims = jsonwebtoken::decode::<SeatClaims>(token, &self.resume_decode, &validation())
            .map_err(|e| {
                if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                    expired()
                } else {
                    ErrorBody::new(
                        ErrorCode::Unauthorized,
                        format!("the reservation is not valid: {e}"),
                    )
                }
            })?
            .claims;
        if claims.typ != SEAT_TYPE {
            return Err(ErrorBody::new(
                ErrorCode::Unauthorized,
                "not a seat reservation",
            ));
        }
        if now_ms >= claims.seat.until_ms {
            return Err(expired().with("room", claims.seat.room.as_str()));
        }
        Ok(claims.seat)
    }
}

fn expired() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ReservationExpired,
        "the seat reservation has expired and its seat was given back; matchmake again",
    )
}

/// Signs a join token: for tests and for backends written in Rust.
pub fn sign_join_token(secret: &[u8], claims: &JoinClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap_or_default()
}

/// A fresh, unguessable session id.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to time, which is unique if guessable.
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&t.to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes for a new server secret.
pub fn random_secret(n: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(
            Some(b"join-secret"),
            b"server-secret",
            Duration::from_secs(60),
        )
    }

    #[test]
    fn join_tokens_verify_and_carry_their_claims() {
        let claims = JoinClaims {
            sub: "u1".into(),
            name: Some("Ann".into()),
            role: Some(Role::Spectator),
            exp: now_s() + 60,
        };
        let t = sign_join_token(b"join-secret", &claims);
        assert_eq!(tokens().verify_join(&t), Ok(claims.clone()));
        let forged = sign_join_token(b"other", &claims);
        assert_eq!(
            tokens().verify_join(&forged).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        let expired = sign_join_token(
            b"join-secret",
            &JoinClaims {
                exp: now_s() - 3600,
                ..claims
            },
        );
        assert_eq!(
            tokens().verify_join(&expired).unwrap_err().code,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn resume_tokens_round_trip_and_cannot_be_confused_with_join_tokens() {
        let id = Identity {
            user: "u".into(),
            name: None,
            role: Some(Role::Player),
            session: new_session_id(),
            not_after: None,
        };
        let t = tokens();
        assert_eq!(t.verify_resume(&t.issue_resume(&id)), Ok(id));
        let join = sign_join_token(
            b"server-secret",
            &JoinClaims {
                sub: "u".into(),
                name: None,
                role: None,
                exp: now_s() + 60,
            },
        );
        assert_eq!(
            t.verify_resume(&join).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        let other_server = Tokens::new(None, b"another", Duration::from_secs(60));
        assert_eq!(
            other_server
                .verify_resume(&t.issue_resume(&Identity {
                    user: "u".into(),
                    name: None,
                    role: None,
                    session: "s".into(),
                    not_after: None,
                }))
                .unwrap_err()
                .code,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn reservations_hold_until_their_millisecond_and_are_nothing_else() {
        let tokens = Tokens::new(
            Some(b"join-secret"),
            b"server-secret",
            Duration::from_secs(60),
        );
        let until_ms = now_s() * 1000 + 10_000;
        let seat = Reservation {
            room: "r1".into(),
            id: "s1".into(),
            mode: "board".into(),
            until_ms,
        };
        let token = tokens.issue_reservation(&seat);
        assert_eq!(
            tokens.verify_reservation(&token, until_ms - 1),
            Ok(seat.clone())
        );
        let late = tokens.verify_reservation(&token, until_ms).unwrap_err();
        assert_eq!(late.code, ErrorCode::ReservationExpired);
        let other = Tokens::new(None, b"another-secret", Duration::from_secs(60));
        let forged = other.verify_reservation(&token, 0).unwrap_err();
        assert_eq!(forged.code, ErrorCode::Unauthorized);
        // A resume token is not a reservation, nor the other way round.
        let identity = Identity {
            user: "u".into(),
            name: None,
            role: None,
            session: "s".into(),
            not_after: None,
        };
        let resume = tokens.issue_resume(&identity);
        assert_eq!(
            tokens.verify_reservation(&resume, 0).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        assert_eq!(
            tokens.verify_resume(&token).unwrap_err().code,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn resume_tokens_never_outlive_the_join_token() {
        let t = tokens();
        let expired = Identity {
            user: "u".into(),
            name: None,
            role: None,
            session: "s".into(),
            not_after: Some(now_s() - 3600),
        };
        assert_eq!(
            t.verify_resume(&t.issue_resume(&expired)).unwrap_err().code,
            ErrorCode::ResumeFailed
        );
        let valid = Identity {
            not_after: Some(now_s() + 3600),
            ..expired
        };
        assert_eq!(t.verify_resume(&t.issue_resume(&valid)), Ok(valid));
    }

    #[test]
    fn session_ids_are_distinct() {
        assert_ne!(new_session_id(), new_session_id());
        assert_eq!(new_session_id().len(), 24);
    }
}
