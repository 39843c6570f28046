import StewardCore

/// The privacy manifest bundled with the CLI (`example-manifest.json`, compiled in), used
/// when no `--manifest` is given.
///
/// It declares what a real Chinese instrument maker's app privacy policy promises, in
/// Steward's words: device model, OS version, configuration, unique identifiers, MAC addresses,
/// connection status, IP address, coarse and precise location, crash diagnostics, usage events,
/// images (originals kept 30 days) and their metadata; purposes for the service and device
/// authentication (necessary for the service) and for crash reporting, analytics,
/// personalisation and push notifications (consent); processors for crash reports (a
/// Sentry-compatible backend), telemetry (an OTLP collector), push (Huawei, Xiaomi), maps
/// (AMap) and the OAID SDK (CAICT).
///
/// Minimum ages: the policy promises not to serve children under 13 without a guardian.
/// That is the floor everywhere; the manifest lists it where it is also the law (US under
/// COPPA, GB) and the higher local ages where the law asks more (CN 14 under PIPL, EU 16 as
/// GDPR's default). Jurisdictions not listed fall back to Steward's age table, whose default
/// is the same 13.
enum ExampleManifest {
    /// The manifest's JSON, exactly as in `example-manifest.json`.
    static var bytes: [UInt8] { PackageResources.example_manifest_json }

    /// The manifest, decoded and validated.
    ///
    /// - Throws: ``ManifestError`` if the bundled file has a problem (a test guards that it
    ///   has none, including no expired events).
    static func load() throws -> PrivacyManifest {
        try PrivacyManifest.decode(json: bytes)
    }
}
