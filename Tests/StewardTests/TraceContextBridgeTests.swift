import Foundation
import Instrumentation
import ServiceContextModule
import Steward
import StewardCore
import StewardCrash
import StewardTelemetry
import StewardTesting
import StewardTracing
import Testing

extension StewardFacadeTests {
    /// Trace context from swift-distributed-tracing through ``StewardTracing``: inside a span,
    /// events, handled-error reports and breadcrumbs carry its ids; outside, nothing.
    @Suite struct TraceContextBridgeTests {
        /// A tracer's propagation as the tests need it: the span's ids under a key of the
        /// context, injected as W3C `traceparent` (what swift-otel's propagator writes).
        struct W3CInstrument: Instrument {
            enum SpanKey: ServiceContextKey { typealias Value = TraceContext }

            func extract<Carrier, Extract: Extractor>(
                _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
            ) where Extract.Carrier == Carrier {}

            func inject<Carrier, Inject: Injector>(
                _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
            ) where Inject.Carrier == Carrier {
                guard let span = context[SpanKey.self] else { return }
                injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
            }
        }

        @Test func insideASpanEventsReportsAndBreadcrumbsCarryItsIds() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics, .crashReporting])
            StewardTracing.install(instrument: W3CInstrument())
            defer { StewardTracing.uninstall() }
            let span = try #require(
                TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"))
            var context = ServiceContext.topLevel
            context[W3CInstrument.SpanKey.self] = span
            let marker = String(UUID().uuidString.prefix(8))
            struct Refused: Error {}

            #expect(ServiceContext.withValue(context) { TraceContext.current } == span)
            ServiceContext.withValue(context) {
                f.steward.crashes.addBreadcrumb(message: "in-span-\(marker)")
                f.steward.telemetry.record("screen_view", attributes: ["screen": .string("traced-\(marker)")])
                f.steward.crashes.report(error: Refused(), message: "traced-\(marker)")
            }
            f.steward.crashes.addBreadcrumb(message: "outside-\(marker)")
            f.steward.telemetry.record("screen_view", attributes: ["screen": .string("plain-\(marker)")])
            f.steward.crashes.report(error: Refused(), message: "plain-\(marker)")
            f.steward.crashes.flushHandledErrors()

            let reports = try f.steward.crashes.storedReports()
            let traced = try #require(reports.first { $0.error?.message == "traced-\(marker)" })
            #expect(traced.trace == span)
            let crumb = try #require(traced.breadcrumbs.first { $0.message == "in-span-\(marker)" })
            #expect(crumb.data["trace_id"] == span.traceID && crumb.data["span_id"] == span.spanID)
            let sentry = try #require(
                try JSONSerialization.jsonObject(with: Data(SentryEventEncoder().event(for: traced).encoded()))
                    as? [String: Any])
            let traceContext = (sentry["contexts"] as? [String: Any])?["trace"] as? [String: Any]
            #expect(traceContext?["trace_id"] as? String == span.traceID)
            #expect(traceContext?["span_id"] as? String == span.spanID)
            let plain = try #require(reports.first { $0.error?.message == "plain-\(marker)" })
            #expect(plain.trace == nil)
            #expect(plain.breadcrumbs.first { $0.message == "outside-\(marker)" }?.data["trace_id"] == nil)

            #expect(await f.steward.send().eventsQueued == 2)
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(f.telemetryBodies.joined().utf8)) as? [String: Any])
            let records = LogHandlerTests.logRecords(json)
            let tracedRecord = try #require(
                records.first { LogHandlerTests.attribute("screen", of: $0) == "traced-\(marker)" })
            #expect(tracedRecord["traceId"] as? String == span.traceID)
            #expect(tracedRecord["spanId"] as? String == span.spanID)
            let plainRecord = try #require(
                records.first { LogHandlerTests.attribute("screen", of: $0) == "plain-\(marker)" })
            #expect(plainRecord["traceId"] == nil && plainRecord["spanId"] == nil)
        }

        @Test func aContextWithoutASpanOrAMalformedTraceparentGivesNoIds() {
            struct Malformed: Instrument {
                func extract<Carrier, Extract: Extractor>(
                    _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
                ) where Extract.Carrier == Carrier {}
                func inject<Carrier, Inject: Injector>(
                    _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
                ) where Inject.Carrier == Carrier {
                    injector.inject(
                        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", forKey: "traceparent", into: &carrier
                    )
                }
            }
            #expect(StewardTracing.traceContext(of: .topLevel, instrument: W3CInstrument()) == nil)
            #expect(StewardTracing.traceContext(of: .topLevel, instrument: Malformed()) == nil)
            #expect(StewardTracing.traceContext(of: .topLevel, instrument: NoOpInstrument()) == nil)
        }
    }
}
