public import Instrumentation
import ServiceContextModule
public import StewardCore

/// Joins Steward's records to the host's traces (swift-distributed-tracing): events recorded,
/// handled errors reported and breadcrumbs added inside a span carry its trace and span ids.
///
/// Steward starts no spans. It asks the host's instrument (the tracer `InstrumentationSystem`
/// was bootstrapped with, or one given here) to inject the task's current `ServiceContext`
/// as W3C Trace Context, and reads the `traceparent` value it writes: any tracer that
/// propagates W3C Trace Context (swift-otel's among them) works, and a context without a span
/// gives no ids.
///
/// ```swift
/// InstrumentationSystem.bootstrap(tracer)   // the host's tracer, such as swift-otel's
/// StewardTracing.install()
/// try await withSpan("checkout") { _ in
///     steward.telemetry.record("screen_view", attributes: ["screen": .string("checkout")])  // carries the ids
/// }
/// ```
public enum StewardTracing {
    /// Makes ``TraceContext/current`` read the task's `ServiceContext` through `instrument`,
    /// or, when nil, through `InstrumentationSystem.instrument` at each call (so a tracer
    /// bootstrapped later is used). Replaces any provider installed before.
    public static func install(instrument: (any Instrument)? = nil) {
        TraceContext.install {
            guard let context = ServiceContext.current else { return nil }
            return traceContext(of: context, instrument: instrument ?? InstrumentationSystem.instrument)
        }
    }

    /// Removes the provider: records carry no trace ids again.
    public static func uninstall() {
        TraceContext.install(nil)
    }

    /// The trace and span ids `instrument` propagates for `context` (its `traceparent`), or
    /// nil when it propagates none or a malformed one.
    public static func traceContext(of context: ServiceContext, instrument: any Instrument) -> TraceContext? {
        var carrier = TraceparentCarrier()
        instrument.inject(context, into: &carrier, using: TraceparentInjector())
        return carrier.traceparent.flatMap(TraceContext.init(traceparent:))
    }
}

/// Keeps only the `traceparent` an instrument injects.
struct TraceparentCarrier {
    var traceparent: String?
}

struct TraceparentInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout TraceparentCarrier) {
        if key.lowercased() == "traceparent" { carrier.traceparent = value }
    }
}
