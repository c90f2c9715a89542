//! The wire format of an event in a Redis message, the same on one Redis and on a cluster:
//! `"{position} {notification_id or 0} {origin or 0} {published_at_us}\n{frame}"`. The user is not
//! in the payload: the channel names it (`super::channels`).

use crate::domain::{NotificationId, StreamPos, UserId};
use crate::event::{Event, SessionId};
use bytestring::ByteString;

/// The payload of `event`'s message.
pub fn encode(event: &Event) -> Vec<u8> {
    let header = format!(
        "{} {} {} {}\n",
        event.position.get(),
        event.notification_id.map(NotificationId::get).unwrap_or(0),
        event.origin.map(|o| o.0).unwrap_or(0),
        event.published_at_us
    );
    let mut payload = Vec::with_capacity(header.len() + event.frame.len());
    payload.extend_from_slice(header.as_bytes());
    payload.extend_from_slice(event.frame.as_bytes());
    payload
}

/// The event in a message's payload, for the user its channel names. The frame is a slice of
/// `payload`, not a copy.
pub fn decode(user_id: UserId, mut payload: bytes::Bytes) -> Option<Event> {
    let split = payload.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&payload[..split]).ok()?;
    let mut fields = header.split(' ');
    let position = StreamPos::new(fields.next()?.parse::<i64>().ok()?);
    let notification_id = NotificationId::new(fields.next()?.parse().ok()?);
    let origin = fields.next()?.parse::<u64>().ok().filter(|o| *o != 0).map(SessionId);
    let published_at_us = fields.next()?.parse::<u64>().ok()?;
    let frame = ByteString::try_from(payload.split_off(split + 1)).ok()?;
    Some(Event { user_id, position, notification_id, origin, frame, published_at_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_wire_format() {
        let event = Event {
            user_id: UserId::new(42).expect("id"),
            position: StreamPos::new(7),
            notification_id: NotificationId::new(99),
            origin: Some(SessionId(12345)),
            frame: ByteString::from_static(r#"{"type":"notification","notification":{"title":"a\nb"}}"#),
            published_at_us: 1_700_000_000_000_000,
        };
        let decoded = decode(event.user_id, encode(&event).into()).expect("decodes");
        assert_eq!(
            (decoded.user_id, decoded.position, decoded.notification_id, decoded.origin),
            (event.user_id, StreamPos::new(7), event.notification_id, event.origin)
        );
        assert_eq!(decoded.frame, event.frame);
        assert_eq!(decoded.published_at_us, event.published_at_us);
        let read = Event { notification_id: None, origin: None, ..event };
        let decoded = decode(read.user_id, encode(&read).into()).expect("decodes");
        assert_eq!((decoded.notification_id, decoded.origin), (None, None));
    }
}
