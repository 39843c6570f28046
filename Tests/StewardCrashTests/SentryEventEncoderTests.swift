import Foundation
@testable import StewardCrash
import Testing

/// A fixed crash report: a SIGSEGV on the main thread with one worker thread, two images,
/// a breadcrumb with non-ASCII text and the full context.
enum SentryFixture {
    /// 2026-11-18T11:06:40.250Z.
    static let crashTime = Date(timeIntervalSince1970: 1_795_000_000.25)
    /// 2.5 seconds before the crash.
    static let launchTime = Date(timeIntervalSince1970: 1_794_999_997.75)
    static let sentAt = Date(timeIntervalSince1970: 1_795_000_060.5)

    static let crash = CrashReport(
        id: "0123456789abcdef0123456789abcdef",
        timestamp: crashTime,
        handled: false,
        signal: CrashSignal(number: 11, name: "SIGSEGV", code: 1, codeName: "SEGV_MAPERR", faultAddress: 0x8),
        crashedThread: CrashThread(
            id: 4242, name: "main",
            frames: [
                StackFrame(
                    instructionAddress: 0x55d0_c0de_1234, function: "Scanner.crash()", package: "/usr/bin/scanner",
                    filename: "Scanner.swift", line: 12, imageAddress: 0x55d0_c0de_0000, symbolAddress: 0x55d0_c0de_1200
                ),
                StackFrame(
                    instructionAddress: 0x55d0_c0de_2000, function: "main", package: "/usr/bin/scanner",
                    imageAddress: 0x55d0_c0de_0000),
                StackFrame(
                    instructionAddress: 0x7f51_4052_9d90, package: "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                    imageAddress: 0x7f51_4052_7000),
            ],
            registers: ["rip": 0x55d0_c0de_1234, "rsp": 0x7ffd_1234_5678]),
        otherThreads: [
            CrashThread(
                id: 4243, name: "worker",
                frames: [
                    StackFrame(instructionAddress: 0x7f51_4052_8000, function: "poll"),
                    StackFrame(instructionAddress: 0x55d0_c0de_3000, function: "Worker.run()"),
                ],
                crashed: false)
        ],
        images: [
            BinaryImage(
                path: "/usr/bin/scanner", start: 0x55d0_c0de_0000, end: 0x55d0_c0e0_0000,
                buildID: "f1c3bcc0279865fe3058404b2831d9e64135386c"),
            BinaryImage(
                path: "/lib/x86_64-linux-gnu/libgcc_s.so.1", start: 0x7f51_4052_7000, end: 0x7f51_4053_d000,
                buildID: "68220ae2c65d65c1b6aaa12fa6765a6ec2f5f434"),
            BinaryImage(path: "/usr/lib/libnobuildid.so", start: 0x7f00_0000_0000, end: 0x7f00_0000_1000),
        ],
        breadcrumbs: [
            Breadcrumb(
                timestamp: Date(timeIntervalSince1970: 1_794_999_999), level: .info, category: "navigation",
                message: "Zähler geöffnet 🚀", data: ["screen": "counter", "from": "home"]),
            Breadcrumb(
                timestamp: Date(timeIntervalSince1970: 1_795_000_000), level: .warning, category: "scan",
                message: "slow frame"),
        ],
        context: CrashContext(
            release: "scanner@1.4.2", environment: "production",
            sessionID: "7c7b6585f9014351bf8d02711b721929", deviceID: "d-5f1e0c",
            osName: "Debian GNU/Linux", osVersion: "12", kernelVersion: "6.1.0-18-amd64",
            model: "ThinkPad X1", arch: "x86_64", executable: "scanner"),
        secondsSinceStart: 2.5,
        handlerNanoseconds: 48_000,
        salvageNotes: ["frame 3 unreadable"])

    static let handled = CrashReport(
        id: "fedcba9876543210fedcba9876543210",
        timestamp: crashTime,
        handled: true,
        error: CrashError(type: "DecodingError", message: "Überlauf im Zähler ✓ — Schlüssel \"größe\" fehlt"),
        crashedThread: CrashThread(
            id: 7,
            frames: [
                StackFrame(instructionAddress: 0x1000, function: "inner"),
                StackFrame(instructionAddress: 0x2000, function: "outer"),
            ]),
        context: CrashContext(release: "scanner@1.4.2", sessionID: "7c7b6585-f901-4351-bf8d-02711b721929"))
}

@Suite struct SentryEventEncoderTests {
    let encoder = SentryEventEncoder()

    @Test func crashIsFatalNativeWithReleaseEnvironmentAndUser() {
        let event = encoder.event(for: SentryFixture.crash)
        #expect(event["event_id"] == "0123456789abcdef0123456789abcdef")
        #expect(event["timestamp"] == "2026-11-18T11:06:40.250Z")
        #expect(event["platform"] == "native")
        #expect(event["level"] == "fatal")
        #expect(event["release"] == "scanner@1.4.2")
        #expect(event["environment"] == "production")
        #expect(event["user"] == ["id": "d-5f1e0c"])
        #expect(event["tags"] == ["session_id": "7c7b6585f9014351bf8d02711b721929"])
        #expect(event["sdk"] == ["name": "steward", "version": "0.1.0"])
    }

    @Test func signalBecomesAnUnhandledSyntheticSignalHandlerException() throws {
        let exception = try #require(encoder.event(for: SentryFixture.crash)["exception"]?["values"]?[0])
        #expect(exception["type"] == "SIGSEGV")
        #expect(exception["value"] == "Segmentation fault (SEGV_MAPERR) at 0x8")
        #expect(exception["thread_id"] == 4242)
        #expect(
            exception["mechanism"] == [
                "type": "signalhandler",
                "handled": false,
                "synthetic": true,
                "data": ["relevant_address": "0x8"],
                "meta": ["signal": ["number": 11, "code": 1, "name": "SIGSEGV", "code_name": "SEGV_MAPERR"]],
            ])
    }

    @Test func columnsBecomeColnoAndInlinedFramesShareTheInstructionAddress() throws {
        let frames = [
            StackFrame(
                instructionAddress: 0x1234, function: "inner", filename: "a.c", line: 7, column: 5, isInlined: true),
            StackFrame(instructionAddress: 0x1234, function: "outer", filename: "a.c", line: 11, symbolAddress: 0x1200),
        ]
        let encoded = try #require(encoder.stacktrace(frames)["frames"]?.arrayValue)
        #expect(
            encoded == [
                [
                    "instruction_addr": "0x1234", "function": "outer", "filename": "a.c", "lineno": 11,
                    "symbol_addr": "0x1200",
                ],
                ["instruction_addr": "0x1234", "function": "inner", "filename": "a.c", "lineno": 7, "colno": 5],
            ])
    }

    @Test func storedFramesWithoutColumnsOrInliningStillDecode() throws {
        let old = Data(#"{"instructionAddress":4660,"function":"f","line":3}"#.utf8)
        let frame = try JSONDecoder().decode(StackFrame.self, from: old)
        #expect(frame == StackFrame(instructionAddress: 4660, function: "f", line: 3))
        let inlined = StackFrame(instructionAddress: 1, line: 2, column: 3, isInlined: true)
        #expect(try JSONDecoder().decode(StackFrame.self, from: JSONEncoder().encode(inlined)) == inlined)
    }

    @Test func framesAreOldestFirstWithHexAddresses() throws {
        let stacktrace = try #require(
            encoder.event(for: SentryFixture.crash)["exception"]?["values"]?[0]?["stacktrace"])
        let frames = try #require(stacktrace["frames"]?.arrayValue)
        #expect(frames.map { $0["instruction_addr"] } == ["0x7f5140529d90", "0x55d0c0de2000", "0x55d0c0de1234"])
        #expect(
            frames.last == [
                "instruction_addr": "0x55d0c0de1234",
                "function": "Scanner.crash()",
                "package": "/usr/bin/scanner",
                "filename": "Scanner.swift",
                "lineno": 12,
                "image_addr": "0x55d0c0de0000",
                "symbol_addr": "0x55d0c0de1200",
            ])
        #expect(
            frames.first == [
                "instruction_addr": "0x7f5140529d90", "package": "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "image_addr": "0x7f5140527000",
            ])
        #expect(stacktrace["registers"] == ["rip": "0x55d0c0de1234", "rsp": "0x7ffd12345678"])
    }

    @Test func crashedThreadLinksToTheExceptionAndOtherThreadsCarryTheirStacks() throws {
        let threads = try #require(encoder.event(for: SentryFixture.crash)["threads"]?["values"]?.arrayValue)
        #expect(threads.count == 2)
        #expect(threads[0] == ["id": 4242, "name": "main", "crashed": true, "current": true])
        #expect(
            threads[1] == [
                "id": 4243, "name": "worker", "crashed": false, "current": false,
                "stacktrace": [
                    "frames": [
                        ["instruction_addr": "0x55d0c0de3000", "function": "Worker.run()"],
                        ["instruction_addr": "0x7f5140528000", "function": "poll"],
                    ]
                ],
            ])
    }

    @Test func debugIDOfSentrysDocumentedBuildIDExample() {
        // Sentry's "Debug Identifiers" documentation: this ELF build ID gives this debug ID.
        let image = BinaryImage(path: "/a", start: 0, end: 1, buildID: "f1c3bcc0279865fe3058404b2831d9e64135386c")
        #expect(image.debugID == "c0bcc3f1-9827-fe65-3058-404b2831d9e6")
    }

    @Test func debugMetaListsELFImagesWithCodeAndDebugIDs() throws {
        let images = try #require(encoder.event(for: SentryFixture.crash)["debug_meta"]?["images"]?.arrayValue)
        #expect(
            images[0] == [
                "type": "elf",
                "code_id": "f1c3bcc0279865fe3058404b2831d9e64135386c",
                "debug_id": "c0bcc3f1-9827-fe65-3058-404b2831d9e6",
                "code_file": "/usr/bin/scanner",
                "image_addr": "0x55d0c0de0000",
                "image_size": 131_072,
            ])
        // The example of Relay's NativeDebugImage documentation (getsentry/relay,
        // relay-event-schema): same code_id, debug_id, code_file, image_addr and image_size.
        #expect(
            images[1] == [
                "type": "elf",
                "code_id": "68220ae2c65d65c1b6aaa12fa6765a6ec2f5f434",
                "debug_id": "e20a2268-5dc6-c165-b6aa-a12fa6765a6e",
                "code_file": "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "image_addr": "0x7f5140527000",
                "image_size": 90112,
            ])
        #expect(
            images[2] == [
                "type": "elf", "code_file": "/usr/lib/libnobuildid.so", "image_addr": "0x7f0000000000",
                "image_size": 4096,
            ])
    }

    @Test func contextsDescribeDeviceOSAppAndSteward() throws {
        let contexts = try #require(encoder.event(for: SentryFixture.crash)["contexts"])
        #expect(contexts["device"] == ["model": "ThinkPad X1", "arch": "x86_64"])
        #expect(contexts["os"] == ["name": "Debian GNU/Linux", "version": "12", "kernel_version": "6.1.0-18-amd64"])
        #expect(contexts["app"] == ["app_name": "scanner", "app_start_time": "2026-11-18T11:06:37.750Z"])
        #expect(
            contexts["steward"] == [
                "partial": false, "runtime_backtrace_merged": false, "seconds_since_start": 2.5, "handler_ns": 48000,
                "salvage_notes": ["frame 3 unreadable"],
            ])
    }

    @Test func breadcrumbsKeepTheirOrderLevelAndData() throws {
        let crumbs = try #require(encoder.event(for: SentryFixture.crash)["breadcrumbs"]?["values"]?.arrayValue)
        #expect(
            crumbs == [
                [
                    "timestamp": "2026-11-18T11:06:39.000Z", "level": "info", "category": "navigation",
                    "message": "Zähler geöffnet 🚀", "data": ["screen": "counter", "from": "home"],
                ],
                [
                    "timestamp": "2026-11-18T11:06:40.000Z", "level": "warning", "category": "scan",
                    "message": "slow frame",
                ],
            ])
    }

    @Test func handledReportIsAnErrorWithAGenericHandledMechanism() throws {
        let event = encoder.event(for: SentryFixture.handled)
        #expect(event["level"] == "error")
        #expect(event["environment"] == "production")
        #expect(event["user"] == nil)
        #expect(event["debug_meta"] == nil)
        #expect(event["breadcrumbs"] == nil)
        let exception = try #require(event["exception"]?["values"]?[0])
        #expect(exception["type"] == "DecodingError")
        #expect(exception["value"] == "Überlauf im Zähler ✓ — Schlüssel \"größe\" fehlt")
        #expect(exception["mechanism"] == ["type": "generic", "handled": true])
        #expect(
            exception["stacktrace"] == [
                "frames": [
                    ["instruction_addr": "0x2000", "function": "outer"],
                    ["instruction_addr": "0x1000", "function": "inner"],
                ]
            ])
        #expect(event["threads"]?["values"] == [["id": 7, "crashed": false, "current": true]])
    }

    @Test func runtimeMessageNamesTheExceptionAndTheSignalStaysInTheMechanism() throws {
        var report = SentryFixture.crash
        report.signal = CrashSignal(number: 5, name: "SIGTRAP", code: 128, codeName: "SI_KERNEL")
        report.error = CrashError(type: "Fatal error", message: "Index out of range")
        let exception = try #require(encoder.event(for: report)["exception"]?["values"]?[0])
        #expect(exception["type"] == "Fatal error")
        #expect(exception["value"] == "Index out of range")
        #expect(
            exception["mechanism"] == [
                "type": "signalhandler", "handled": false,
                "meta": ["signal": ["number": 5, "code": 128, "name": "SIGTRAP", "code_name": "SI_KERNEL"]],
            ])
    }

    @Test(arguments: [
        (
            CrashSignal(number: 7, name: "SIGBUS", code: 2, codeName: "BUS_ADRERR", faultAddress: 0xdead_beef),
            "Bus error (BUS_ADRERR) at 0xdeadbeef"
        ),
        (
            CrashSignal(number: 8, name: "SIGFPE", code: 1, codeName: "FPE_INTDIV", faultAddress: 0x55d0_c0de_1234),
            "Floating-point exception (FPE_INTDIV) at 0x55d0c0de1234"
        ),
        (CrashSignal(number: 6, name: "SIGABRT", code: -6), "Abort"),
        (CrashSignal(number: 4, name: "SIGILL", code: 2, codeName: "ILL_ILLOPN"), "Illegal instruction (ILL_ILLOPN)"),
        (CrashSignal(number: 31, name: "SIGSYS", code: 1), "Signal 31"),
    ])
    func signalValuesNameTheSignalCodeAndAddress(_ signal: CrashSignal, _ value: String) throws {
        var report = SentryFixture.crash
        report.signal = signal
        let exception = try #require(encoder.event(for: report)["exception"]?["values"]?[0])
        #expect(exception["type"] == .string(signal.name))
        #expect(exception["value"] == .string(value))
    }

    @Test func partialReportIsTagged() {
        var report = SentryFixture.crash
        report.partial = true
        #expect(encoder.event(for: report)["tags"]?["partial"] == "true")
    }

    @Test func encodingIsDeterministic() {
        #expect(encoder.item(for: SentryFixture.crash).payload == encoder.item(for: SentryFixture.crash).payload)
    }

    @Test func eventItemLengthCountsMultiByteUTF8() throws {
        let envelope = encoder.envelope(for: SentryFixture.handled, dsn: nil, sentAt: nil)
        let bytes = envelope.encode()
        let decoded = try SentryEnvelope.decode(bytes)
        let item = try #require(decoded.items.first)
        let payload = encoder.item(for: SentryFixture.handled).payload
        #expect(item.payload == payload)
        #expect(payload.count > String(decoding: payload, as: UTF8.self).count)
        // The item header line says exactly that many bytes.
        let lines = bytes.split(separator: 0x0A, maxSplits: 2, omittingEmptySubsequences: false)
        let header = try SentryJSON.parse(lines[1])
        #expect(header == ["type": "event", "content_type": "application/json", "length": .int(Int64(payload.count))])
        #expect(try SentryJSON.parse(item.payload) == encoder.event(for: SentryFixture.handled))
    }
}
