//! The eight notification types of the original system.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationType {
    Meeting,
    MeetingResponse,
    ActionItem,
    General,
    Approval,
    MeetingInvitation,
    MeetingScheduled,
    MomCreated,
}

impl NotificationType {
    pub const ALL: [NotificationType; 8] = [
        NotificationType::Meeting,
        NotificationType::MeetingResponse,
        NotificationType::ActionItem,
        NotificationType::General,
        NotificationType::Approval,
        NotificationType::MeetingInvitation,
        NotificationType::MeetingScheduled,
        NotificationType::MomCreated,
    ];

    pub const INVALID: &'static str = "must be one of meeting, meeting_response, action_item, general, approval, meeting_invitation, meeting_scheduled, mom_created";

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Meeting => "meeting",
            NotificationType::MeetingResponse => "meeting_response",
            NotificationType::ActionItem => "action_item",
            NotificationType::General => "general",
            NotificationType::Approval => "approval",
            NotificationType::MeetingInvitation => "meeting_invitation",
            NotificationType::MeetingScheduled => "meeting_scheduled",
            NotificationType::MomCreated => "mom_created",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

impl Serialize for NotificationType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The OpenAPI schema: a string, one of `ALL`.
impl utoipa::PartialSchema for NotificationType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(NotificationType::ALL.map(NotificationType::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for NotificationType {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_and_unknown_is_refused() {
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.as_str()), Some(t));
        }
        assert_eq!(NotificationType::parse("General"), None);
        assert_eq!(NotificationType::parse("alert"), None);
    }
}
