//! What one reported call outcome means for the model that served it.
//!
//! `errorType` wins over `status`; from `status` alone: 429 → rate limit, 529/503 →
//! overloaded, other 5xx → server, 408 → timeout, 401/403 → auth, 413 → context length,
//! other 4xx → bad request. A failure with neither counts as a server error.

/// Why a call failed, as the caller or the status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    RateLimit,
    Overloaded,
    Server,
    Timeout,
    Connection,
    Auth,
    BadRequest,
    ContextLength,
    ContentPolicy,
}

impl ErrorType {
    pub const ALL: [ErrorType; 9] = [
        ErrorType::RateLimit,
        ErrorType::Overloaded,
        ErrorType::Server,
        ErrorType::Timeout,
        ErrorType::Connection,
        ErrorType::Auth,
        ErrorType::BadRequest,
        ErrorType::ContextLength,
        ErrorType::ContentPolicy,
    ];

    pub fn parse(s: &str) -> Option<ErrorType> {
        ErrorType::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::RateLimit => "rate_limit",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Server => "server",
            ErrorType::Timeout => "timeout",
            ErrorType::Connection => "connection",
            ErrorType::Auth => "auth",
            ErrorType::BadRequest => "bad_request",
            ErrorType::ContextLength => "context_length",
            ErrorType::ContentPolicy => "content_policy",
        }
    }

    /// Stable small code (the binding's outcome log carries it as a number).
    pub fn code(self) -> u32 {
        ErrorType::ALL.iter().position(|e| *e == self).unwrap_or(2) as u32
    }

    pub fn from_code(code: u32) -> Option<ErrorType> {
        ErrorType::ALL.get(code as usize).copied()
    }

    /// The class of an HTTP status alone (`None`: not an error status).
    pub fn from_status(status: u16) -> Option<ErrorType> {
        Some(match status {
            429 => ErrorType::RateLimit,
            503 | 529 => ErrorType::Overloaded,
            408 => ErrorType::Timeout,
            401 | 403 => ErrorType::Auth,
            413 => ErrorType::ContextLength,
            500..=599 => ErrorType::Server,
            400..=499 => ErrorType::BadRequest,
            _ => return None,
        })
    }
}

/// What an outcome does to the model's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeClass {
    Success,
    /// 429: the model is cooled for its Retry-After.
    RateLimited,
    /// The model's own fault (server, overloaded, timeout, connection): counts towards
    /// ejection.
    Failure(ErrorType),
    /// Credentials refused: ejected until availability is restored or configs change.
    Auth,
    /// The caller's request was at fault (bad request, context length, content policy):
    /// never counts against the model.
    CallerError(ErrorType),
}

impl OutcomeClass {
    pub fn of(e: ErrorType) -> OutcomeClass {
        match e {
            ErrorType::RateLimit => OutcomeClass::RateLimited,
            ErrorType::Overloaded
            | ErrorType::Server
            | ErrorType::Timeout
            | ErrorType::Connection => OutcomeClass::Failure(e),
            ErrorType::Auth => OutcomeClass::Auth,
            ErrorType::BadRequest | ErrorType::ContextLength | ErrorType::ContentPolicy => {
                OutcomeClass::CallerError(e)
            }
        }
    }

    /// Code for the binding's log: 0 success, else 1 + the error type's code.
    pub fn code(self) -> u32 {
        match self {
            OutcomeClass::Success => 0,
            OutcomeClass::RateLimited => 1 + ErrorType::RateLimit.code(),
            OutcomeClass::Auth => 1 + ErrorType::Auth.code(),
            OutcomeClass::Failure(e) | OutcomeClass::CallerError(e) => 1 + e.code(),
        }
    }

    pub fn from_code(code: u32) -> Option<OutcomeClass> {
        if code == 0 {
            return Some(OutcomeClass::Success);
        }
        ErrorType::from_code(code - 1).map(OutcomeClass::of)
    }
}

/// Classifies an outcome: `ok` first, then `error_type`, then `status`, else server.
pub fn classify(ok: bool, status: Option<u16>, error_type: Option<ErrorType>) -> OutcomeClass {
    if ok {
        return OutcomeClass::Success;
    }
    let e = error_type
        .or_else(|| status.and_then(ErrorType::from_status))
        .unwrap_or(ErrorType::Server);
    OutcomeClass::of(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_map() {
        let cases = [
            (429, ErrorType::RateLimit),
            (503, ErrorType::Overloaded),
            (529, ErrorType::Overloaded),
            (500, ErrorType::Server),
            (502, ErrorType::Server),
            (504, ErrorType::Server),
            (408, ErrorType::Timeout),
            (401, ErrorType::Auth),
            (403, ErrorType::Auth),
            (413, ErrorType::ContextLength),
            (400, ErrorType::BadRequest),
            (404, ErrorType::BadRequest),
            (422, ErrorType::BadRequest),
        ];
        for (status, e) in cases {
            assert_eq!(ErrorType::from_status(status), Some(e), "{status}");
        }
        assert_eq!(ErrorType::from_status(200), None);
        assert_eq!(ErrorType::from_status(302), None);
    }

    #[test]
    fn error_type_wins_over_status() {
        assert_eq!(
            classify(false, Some(500), Some(ErrorType::ContextLength)),
            OutcomeClass::CallerError(ErrorType::ContextLength)
        );
        assert_eq!(
            classify(false, Some(400), Some(ErrorType::Timeout)),
            OutcomeClass::Failure(ErrorType::Timeout)
        );
    }

    #[test]
    fn failure_without_class_is_server_and_ok_is_success() {
        assert_eq!(
            classify(false, None, None),
            OutcomeClass::Failure(ErrorType::Server)
        );
        assert_eq!(
            classify(false, Some(200), None),
            OutcomeClass::Failure(ErrorType::Server)
        );
        assert_eq!(classify(true, Some(500), None), OutcomeClass::Success);
    }

    #[test]
    fn codes_round_trip() {
        for e in ErrorType::ALL {
            assert_eq!(ErrorType::parse(e.as_str()), Some(e));
            let c = OutcomeClass::of(e);
            assert_eq!(OutcomeClass::from_code(c.code()), Some(c));
        }
        assert_eq!(OutcomeClass::from_code(0), Some(OutcomeClass::Success));
        assert_eq!(OutcomeClass::from_code(99), None);
        assert_eq!(ErrorType::parse("nope"), None);
    }
}
