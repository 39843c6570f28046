import Foundation
import StewardCore

/// The privacy manifest of the example server (`server-manifest.json`, compiled in), used when
/// no `--manifest` is given.
///
/// It declares what the server sends and why: crash reports and handled errors (with the
/// breadcrumbs of the requests before them) to a Sentry-compatible recipient under crash-reporting
/// consent, and its warning and error lines as the `http_log` event plus two request metrics
/// (`http.server.requests`, `http.server.duration`) to an OTLP collector under analytics consent.
/// Nothing identifies a person: routes are the router's patterns, never the request's path.
enum ServerManifest {
    /// The manifest's JSON, exactly as in `server-manifest.json`.
    static var bytes: [UInt8] { PackageResources.server_manifest_json }

    /// The manifest at `path`, or the bundled one when `path` is nil.
    ///
    /// - Throws: ``ManifestError`` (every problem, with its JSON path) when the manifest is not
    ///   valid, or Foundation's error when the file cannot be read.
    static func load(path: String?) throws -> PrivacyManifest {
        guard let path else { return try PrivacyManifest.decode(json: bytes) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try PrivacyManifest.decode(json: Array(data))
    }
}
