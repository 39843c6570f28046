/// The version of Steward this build is, as listed in `CHANGELOG.md` (semantic versioning: until
/// 1.0.0 a minor version may change public API, a patch version never does).
///
/// It goes out as the SDK version in Sentry envelopes and events and as the version of the OTLP
/// instrumentation scope, so a backend can tell which Steward produced what it received.
public enum StewardVersion {
    /// The version string, `MAJOR.MINOR.PATCH`.
    public static let current = "0.1.0"
}
