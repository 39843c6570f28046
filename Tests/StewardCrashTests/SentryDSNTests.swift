import Foundation
@testable import StewardCrash
import Testing

@Suite struct SentryDSNTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let dsn: String
        let scheme: String
        let publicKey: String
        let secretKey: String?
        let host: String
        let port: Int?
        let pathPrefix: String
        let projectID: String
        let envelopeURL: String
        var testDescription: String { dsn }
    }

    static let valid: [Valid] = [
        // The examples of Sentry's "Authentication" page.
        Valid(
            dsn: "https://public@sentry.example.com/1", scheme: "https", publicKey: "public", secretKey: nil,
            host: "sentry.example.com", port: nil, pathPrefix: "", projectID: "1",
            envelopeURL: "https://sentry.example.com/api/1/envelope/"),
        Valid(
            dsn: "https://examplePublicKey@o0.ingest.sentry.io/0", scheme: "https", publicKey: "examplePublicKey",
            secretKey: nil, host: "o0.ingest.sentry.io", port: nil, pathPrefix: "", projectID: "0",
            envelopeURL: "https://o0.ingest.sentry.io/api/0/envelope/"),
        // An empty secret, as in the "Envelopes" page's examples, is no secret.
        Valid(
            dsn: "https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42", scheme: "https",
            publicKey: "e12d836b15bb49d7bbf99e64295d995b", secretKey: nil, host: "sentry.io", port: nil,
            pathPrefix: "", projectID: "42", envelopeURL: "https://sentry.io/api/42/envelope/"),
        Valid(
            dsn: "https://public:secret@sentry.example.com/1", scheme: "https", publicKey: "public",
            secretKey: "secret",
            host: "sentry.example.com", port: nil, pathPrefix: "", projectID: "1",
            envelopeURL: "https://sentry.example.com/api/1/envelope/"),
        Valid(
            dsn: "http://public@localhost:9000/sentry/7", scheme: "http", publicKey: "public", secretKey: nil,
            host: "localhost", port: 9000, pathPrefix: "/sentry", projectID: "7",
            envelopeURL: "http://localhost:9000/sentry/api/7/envelope/"),
        Valid(
            dsn: "https://pub:sec@sentry.internal:8443/a/b/123", scheme: "https", publicKey: "pub", secretKey: "sec",
            host: "sentry.internal", port: 8443, pathPrefix: "/a/b", projectID: "123",
            envelopeURL: "https://sentry.internal:8443/a/b/api/123/envelope/"),
        Valid(
            dsn: "http://pub@[::1]:9000/3", scheme: "http", publicKey: "pub", secretKey: nil, host: "[::1]", port: 9000,
            pathPrefix: "", projectID: "3", envelopeURL: "http://[::1]:9000/api/3/envelope/"),
        // Tolerated: surrounding white space, an upper-case scheme, one trailing slash.
        Valid(
            dsn: "  HTTPS://pub@host.example/5/\n", scheme: "https", publicKey: "pub", secretKey: nil,
            host: "host.example", port: nil, pathPrefix: "", projectID: "5",
            envelopeURL: "https://host.example/api/5/envelope/"),
    ]

    @Test(arguments: valid)
    func validDSNsParseIntoTheirParts(_ expected: Valid) throws {
        let dsn = try SentryDSN(expected.dsn)
        #expect(dsn.scheme == expected.scheme)
        #expect(dsn.publicKey == expected.publicKey)
        #expect(dsn.secretKey == expected.secretKey)
        #expect(dsn.host == expected.host)
        #expect(dsn.port == expected.port)
        #expect(dsn.pathPrefix == expected.pathPrefix)
        #expect(dsn.projectID == expected.projectID)
        #expect(dsn.envelopeURL.absoluteString == expected.envelopeURL)
    }

    static let invalid: [(String, SentryError.Code)] = [
        ("", .emptyDSN),
        ("   \n", .emptyDSN),
        ("sentry.io/42", .malformedDSN),
        ("ftp://pub@host/1", .unsupportedScheme),
        ("wss://pub@host/1", .unsupportedScheme),
        ("://pub@host/1", .unsupportedScheme),
        ("https://host.example/42", .missingPublicKey),
        ("https://:secret@host.example/42", .missingPublicKey),
        ("https://pub@/42", .missingHost),
        ("https://pub@:9000/42", .missingHost),
        ("https://pub@host:0/42", .invalidPort),
        ("https://pub@host:70000/42", .invalidPort),
        ("https://pub@host:abc/42", .invalidPort),
        ("https://pub@host:/42", .invalidPort),
        ("https://pub@host", .missingProjectID),
        ("https://pub@host/", .missingProjectID),
        ("https://pub@host/sentry/", .invalidProjectID),
        ("https://pub@host/project", .invalidProjectID),
        ("https://pub@host/-1", .invalidProjectID),
        ("https://pub@host/42?sample=1", .malformedDSN),
        ("https://pub@host/42#x", .malformedDSN),
        ("https://pub@[::1/42", .malformedDSN),
        ("https://pub@ho st/42", .malformedDSN),
    ]

    @Test(arguments: invalid)
    func invalidDSNsAreRejectedWithTheirCode(_ dsn: String, _ code: SentryError.Code) {
        #expect {
            _ = try SentryDSN(dsn)
        } throws: { error in
            guard let error = error as? SentryError else { return false }
            return error.code == code && error.message.contains("{PROTOCOL}://{PUBLIC_KEY}")
        }
    }

    @Test func errorMessagesNeverShowTheSecret() throws {
        for dsn in [
            "https://pub:topsecret@host/project", "https://pub:topsecret@host:99999/1", "https://pub:topsecret@host",
        ] {
            do {
                _ = try SentryDSN(dsn)
                Issue.record("\(dsn) parsed")
            } catch {
                #expect(!error.message.contains("topsecret"))
                #expect(!error.description.contains("topsecret"))
            }
        }
    }

    @Test func descriptionHidesTheSecret() throws {
        let dsn = try SentryDSN("https://pub:topsecret@sentry.example.com:9000/prefix/42")
        #expect(dsn.description == "https://pub@sentry.example.com:9000/prefix/42")
        #expect(dsn.redacted == "https://pub@sentry.example.com:9000/prefix/42")
        #expect(dsn.debugDescription == "SentryDSN(https://pub@sentry.example.com:9000/prefix/42, secret: <redacted>)")
        #expect(!"\(dsn)".contains("topsecret"))
        #expect(!String(reflecting: dsn).contains("topsecret"))
    }

    @Test func authHeaderWithoutSecretIsExact() throws {
        let dsn = try SentryDSN("https://public@o0.ingest.sentry.io/42")
        #expect(dsn.authHeader() == "Sentry sentry_version=7, sentry_client=steward/0.1.0, sentry_key=public")
        #expect(
            dsn.authHeader(client: "scanner/2.0")
                == "Sentry sentry_version=7, sentry_client=scanner/2.0, sentry_key=public")
    }

    @Test func authHeaderCarriesTheSecretOnlyWhenTheDSNHasOne() throws {
        let dsn = try SentryDSN("https://public:secret@sentry.example.com/1")
        #expect(
            dsn.authHeader()
                == "Sentry sentry_version=7, sentry_client=steward/0.1.0, sentry_key=public, sentry_secret=secret")
        #expect(!dsn.authHeader().contains("sentry_timestamp"))
    }

    @Test func headersNameTheAuthAndTheEnvelopeContentType() throws {
        let dsn = try SentryDSN("https://public@o0.ingest.sentry.io/42")
        #expect(
            dsn.headers() == [
                "X-Sentry-Auth": "Sentry sentry_version=7, sentry_client=steward/0.1.0, sentry_key=public",
                "Content-Type": "application/x-sentry-envelope",
            ])
    }
}
