//! WebSocket frames written byte for byte (RFC 6455 framing, masked as a client must).

pub(super) const FIN: u8 = 0x80;

pub(super) const CONTINUATION: u8 = 0x0;

pub(super) const TEXT: u8 = 0x1;

pub(super) const BINARY: u8 = 0x2;

pub(super) const CLOSE: u8 = 0x8;

pub(super) const PING: u8 = 0x9;

pub(super) const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One client frame as bytes (RFC 6455 §5.2): `head` is FIN | RSV | opcode, the length is
/// declared as `declared` in the shortest encoding, and the payload is masked unless `unmasked`.
pub(super) fn frame_with(head: u8, payload: &[u8], declared: u64, unmasked: bool) -> Vec<u8> {
    let mask_bit = if unmasked { 0 } else { 0x80 };
    let mut out = vec![head];
    match declared {
        0..=125 => out.push(mask_bit | declared as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(declared as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&declared.to_be_bytes());
        }
    }
    if unmasked {
        out.extend_from_slice(payload);
    } else {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    }
    out
}

/// A well-formed, masked frame.
pub(super) fn frame(head: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(head, payload, payload.len() as u64, false)
}

pub(super) fn text(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | TEXT, payload.as_ref())
}

/// `payload` as a text message in fragments cut at `cuts` (byte offsets, so a cut may split a
/// UTF-8 character), with a ping control frame after every fragment but the last when `pings`.
pub(super) fn fragmented(payload: &[u8], cuts: &[usize], pings: bool) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(payload.len())).collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds.push(payload.len());
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &end) in bounds.iter().enumerate() {
        let last = i == bounds.len() - 1;
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        out.extend(frame(if last { FIN | opcode } else { opcode }, &payload[start..end]));
        if pings && !last {
            out.extend(frame(FIN | PING, format!("between-{i}").as_bytes()));
        }
        start = end;
    }
    out
}

/// A close frame with a raw code and reason.
pub(super) fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(FIN | CLOSE, &payload)
}
