/// The injected clock, with its instants turned into durations since the uploader started.
protocol UploadTimer: Sendable {
    func elapsed() -> Duration
    func sleep(untilElapsed deadline: Duration) async throws
}

struct ClockTimer<C: Clock>: UploadTimer where C.Duration == Duration {
    let clock: C
    let origin: C.Instant
    /// 2^62 s: what ``elapsed()`` is clamped to, so adding any wait (at most
    /// `CheckedTime.maximumWait`) to it cannot overflow `Duration`'s 128 bits.
    static var limit: Duration { .seconds(Int64(1) << 62) }

    /// Time since the uploader started, clamped to ±2^62 s: a host clock may jump anywhere.
    func elapsed() -> Duration {
        origin.duration(to: clock.now).clamped(to: .zero - Self.limit...Self.limit)
    }

    /// Sleeps until `deadline`, but never more than `CheckedTime.maximumWait` from now (the
    /// caller's loop looks again when it wakes), so no deadline handed to the clock is absurd.
    func sleep(untilElapsed deadline: Duration) async throws {
        let capped = min(deadline, elapsed() + CheckedTime.maximumWait)
        try await clock.sleep(until: origin.advanced(by: capped), tolerance: nil)
    }
}

func makeTimer<C: Clock>(_ clock: C) -> any UploadTimer where C.Duration == Duration {
    ClockTimer(clock: clock, origin: clock.now)
}
