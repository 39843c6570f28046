import Hummingbird
import Logging
import Metrics

/// Turns every request into a log line and two measurements, through swift-log and
/// swift-metrics only: the bootstrapped backends (Steward's bridges) decide what they become.
///
/// - A request that succeeds is one `info` line: a breadcrumb.
/// - A request a handler fails with an `HTTPResponseError` below 500 (a 404, a 400) is one
///   `warning` line: a breadcrumb and an `http_log` record.
/// - A request whose handler throws anything else (or a 5xx) is one `error` line carrying the
///   error: a breadcrumb, an `http_log` record and a handled-error report. The error goes on up,
///   and Hummingbird answers 500.
/// - Each request counts in `http.server.requests` (route, method, status) and times in
///   `http.server.duration` (route). The route is the router's pattern (`/hello`, or Hummingbird's
///   `NotFound`), never the path the client sent, so no identifier in a path reaches a metric.
struct RequestMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            finish(request, context: context, status: Int(response.status.code), since: start, error: nil)
            return response
        } catch {
            let status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            finish(request, context: context, status: status, since: start, error: error)
            throw error
        }
    }

    private func finish(
        _ request: Request, context: Context, status: Int, since start: ContinuousClock.Instant, error: (any Error)?
    ) {
        let route = context.endpointPath ?? "NotFound"
        let method = request.method.rawValue
        Counter(
            label: "http.server.requests",
            dimensions: [("route", route), ("method", method), ("status", String(status))]
        )
        .increment()
        Timer(label: "http.server.duration", dimensions: [("route", route)]).record(
            duration: ContinuousClock.now - start)

        let metadata: Logger.Metadata = [
            "route": .string(route), "method": .string(method), "status": .stringConvertible(status),
        ]
        let message: Logger.Message = "\(method) \(route) \(status)"
        if status >= 500 {
            context.logger.error(
                message, error: error ?? ServerError(description: "answered \(status)"), metadata: metadata)
        } else if status >= 400 {
            context.logger.warning(message, metadata: metadata)
        } else {
            context.logger.info(message, metadata: metadata)
        }
    }
}
