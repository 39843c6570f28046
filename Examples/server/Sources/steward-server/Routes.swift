import Hummingbird
import Steward

/// The server's routes, behind the tracing and request middleware.
///
/// | Route | Answer |
/// | --- | --- |
/// | `GET /hello` | 200, a greeting |
/// | `GET /fail` | 500: the handler throws ``ServerError``, reported as a handled error |
/// | `POST /consent/grant` | 204: the user (here, whoever runs the demo) grants analytics and crash reporting |
/// | `POST /consent/deny` | 204: both denied; what is held for them is purged |
/// | `GET /disclosure` | 200, the privacy disclosure Steward generates from the manifest (Markdown) |
///
/// Without Steward (it could not start), the consent and disclosure routes answer 503.
enum Routes {
    static func router(steward: Steward?) -> Router<BasicRequestContext> {
        let router = Router()
        // The span first, so that the request middleware's lines carry its ids.
        router.add(middleware: TracingMiddleware())
        router.add(middleware: RequestMiddleware())

        router.get("hello") { _, _ in
            "Hello from steward-server\n"
        }
        router.get("fail") { _, _ -> String in
            throw ServerError(description: "the inventory service did not answer")
        }
        router.post("consent/grant") { _, _ -> HTTPResponse.Status in
            try running(steward).consent.grant([.analytics, .crashReporting])
            return .noContent
        }
        router.post("consent/deny") { _, _ -> HTTPResponse.Status in
            try running(steward).consent.deny([.analytics, .crashReporting])
            return .noContent
        }
        router.get("disclosure") { _, _ in
            try running(steward).disclosure.markdown()
        }
        return router
    }

    /// `steward`, or a 503 when the server runs without it.
    private static func running(_ steward: Steward?) throws -> Steward {
        guard let steward else {
            throw HTTPError(.serviceUnavailable, message: "Steward is not running on this server; see its log")
        }
        return steward
    }
}
