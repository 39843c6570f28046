/// The device checks: camera (video4linux), microphone (ALSA or a sound server) and location.
extension LinuxPermissionProbe {
    /// A device node the probe found, with the name to show beside it.
    struct DeviceNode: Hashable, Sendable {
        /// The node's path (`/dev/video0`, under the root).
        var path: String
        /// What the kernel calls the device (`UVC Camera`), when known.
        var name: String?

        /// `/dev/video0 (UVC Camera)`.
        var label: String { name.map { "\(path) (\($0))" } ?? path }
    }

    // MARK: - Camera

    /// Camera: every video4linux capture node must be readable and writable.
    func checkCamera() -> SystemAccess {
        let classPath = systemPath("/sys/class/video4linux")
        let entries = (POSIXCall.directoryEntries(classPath) ?? [])
            .filter { $0.hasPrefix("video") && Int($0.dropFirst("video".count)) != nil }
            .sorted { (Int($0.dropFirst(5)) ?? 0) < (Int($1.dropFirst(5)) ?? 0) }
        var captures: [DeviceNode] = []
        var ignored: [String] = []
        for entry in entries {
            let base = "\(classPath)/\(entry)"
            let node = DeviceNode(path: systemPath("/dev/\(entry)"), name: POSIXCall.readText(base + "/name"))
            if isCaptureNode(sysfs: base) { captures.append(node) } else { ignored.append(entry) }
        }
        guard !captures.isEmpty else {
            var reason =
                entries.isEmpty
                ? "no video4linux capture device (\(classPath) is empty)"
                : "no video4linux capture device (\(classPath) lists only \(ignored.joined(separator: ", ")), "
                    + "which cannot capture video)"
            reason += ": connect a camera"
            if let hint = sandboxHint(flatpak: "--device=all", snap: "camera") { reason += "; \(hint)" }
            return .unavailable(reason: reason)
        }
        return deviceAccess(captures, kind: "video4linux capture device", flatpak: "--device=all", snap: "camera")
    }

    /// Whether a video4linux node captures video: udev's `ID_V4L_CAPABILITIES` names
    /// `capture`; without that property (no udev database entry), the node with index 0 is the
    /// device's capture node and the others are metadata nodes.
    func isCaptureNode(sysfs base: String) -> Bool {
        if let dev = POSIXCall.readText(base + "/dev"),
            let udev = POSIXCall.readText(systemPath("/run/udev/data/c\(dev)"))
        {
            for line in udev.split(whereSeparator: \.isNewline) where line.hasPrefix("E:ID_V4L_CAPABILITIES=") {
                return line.dropFirst("E:ID_V4L_CAPABILITIES=".count).split(separator: ":").contains("capture")
            }
        }
        return POSIXCall.readText(base + "/index") == "0"
    }

    // MARK: - Microphone

    /// Microphone: an ALSA capture node readable and writable, or a reachable sound server.
    func checkMicrophone() -> SystemAccess {
        let soundPath = systemPath("/dev/snd")
        let captures = (POSIXCall.directoryEntries(soundPath) ?? [])
            .compactMap { entry -> (card: Int, device: Int, name: String)? in
                guard let (card, device) = Self.alsaCapture(entry) else { return nil }
                return (card, device, entry)
            }
            .sorted { ($0.card, $0.device) < ($1.card, $1.device) }
            .map { capture in
                let id = POSIXCall.readText(systemPath("/proc/asound/card\(capture.card)/id"))
                return DeviceNode(
                    path: "\(soundPath)/\(capture.name)",
                    name: id.map { "card \(capture.card) '\($0)'" } ?? "card \(capture.card)")
            }
        let server = soundServer()
        if captures.isEmpty {
            if sandbox != .none, case .success(let detail) = server {
                return .available(detail: "through the sound server (the sandbox hides /dev/snd): \(detail)")
            }
            var reason = "no ALSA capture device (no pcmC*D*c node in \(soundPath)): connect a microphone"
            if let hint = sandboxHint(flatpak: "--socket=pulseaudio", snap: "audio-record") { reason += "; \(hint)" }
            return .unavailable(reason: reason)
        }
        let direct = deviceAccess(captures, kind: "ALSA capture device", flatpak: "--device=all", snap: "audio-record")
        switch (direct, server) {
        case (.available, _):
            return direct
        case (.limited(let scope), .success(let detail)):
            return .available(detail: "through the sound server: \(detail); directly: \(scope)")
        case (.unavailable, .success(let detail)):
            return .available(detail: "through the sound server: \(detail)")
        case (.unavailable(let reason), .failure(let serverReason)):
            return .unavailable(reason: "\(reason); and no sound server either: \(serverReason.text)")
        case (.limited, .failure):
            return direct
        }
    }

    /// The card and device numbers of an ALSA capture node name (`pcmC0D0c`).
    static func alsaCapture(_ name: String) -> (card: Int, device: Int)? {
        guard name.hasPrefix("pcmC"), name.hasSuffix("c") else { return nil }
        let middle = name.dropFirst(4).dropLast()
        let parts = middle.split(separator: "D", omittingEmptySubsequences: false)
        guard parts.count == 2, let card = Int(parts[0]), let device = Int(parts[1]) else { return nil }
        return (card, device)
    }

    /// Why no sound server can be reached.
    struct SoundServerProblem: Error {
        /// The problem in words.
        var text: String
    }

    /// The first reachable sound server socket (PipeWire, then PulseAudio), or why there is none.
    func soundServer() -> Result<String, SoundServerProblem> {
        guard let runtime = environment("XDG_RUNTIME_DIR") else {
            return .failure(
                SoundServerProblem(text: "XDG_RUNTIME_DIR is unset, so no PipeWire or PulseAudio socket can be found"))
        }
        var problems: [String] = []
        for (server, path) in [("PipeWire", "\(runtime)/pipewire-0"), ("PulseAudio", "\(runtime)/pulse/native")] {
            let verdict = access(path, .write)
            if verdict.status == nil {
                problems.append("no \(server) socket at \(path)")
            } else if verdict.status?.kind != .socket {
                problems.append("\(path) is not a socket")
            } else if verdict.isGranted {
                return .success("\(server) at \(path)")
            } else {
                problems.append(verdict.reason)
            }
        }
        return .failure(SoundServerProblem(text: problems.joined(separator: "; ")))
    }

    // MARK: - Location

    /// Location: a host-registered source, a readable GNSS device, or gpsd.
    func checkLocation() -> SystemAccess {
        let sources = configuration.locationSources.filter { !$0.isEmpty }
        if !sources.isEmpty {
            return .available(detail: "host-registered location source: \(sources.joined(separator: ", "))")
        }
        let devPath = systemPath("/dev")
        let gnss = (POSIXCall.directoryEntries(devPath) ?? []).filter { $0.hasPrefix("gnss") }.sorted()
        var problems: [String] = []
        for entry in gnss {
            let verdict = access("\(devPath)/\(entry)", .read)
            if verdict.isGranted { return .available(detail: "GNSS receiver \(devPath)/\(entry)") }
            problems.append(verdict.reason)
        }
        let sockets = [systemPath("/run/gpsd.sock"), systemPath("/var/run/gpsd.sock")]
        if let socket = sockets.first(where: POSIXCall.exists) {
            return .available(detail: "through gpsd (\(socket))")
        }
        var reason = "no location source: no host-registered source, "
        reason +=
            gnss.isEmpty
            ? "no GNSS device (\(devPath)/gnss*)" : "no readable GNSS device (\(problems.joined(separator: "; ")))"
        reason +=
            " and no gpsd socket (\(sockets.joined(separator: " or "))): register a host source "
            + "(LinuxPermissionProbe.Configuration.locationSources, for example a site survey position), "
            + "connect a GNSS receiver or run gpsd"
        if let hint = sandboxHint(flatpak: "--device=all", snap: "location-observe") { reason += "; \(hint)" }
        return .unavailable(reason: reason)
    }

    // MARK: - Shared

    /// Available when every node is readable and writable, limited when some are, unavailable
    /// (with each node's reason and fix) when none is.
    func deviceAccess(_ nodes: [DeviceNode], kind: String, flatpak: String, snap: String) -> SystemAccess {
        var granted: [DeviceNode] = []
        var refused: [(node: DeviceNode, reason: String)] = []
        for node in nodes {
            let verdict = access(node.path, [.read, .write])
            if verdict.isGranted {
                granted.append(node)
            } else {
                refused.append((node, "\(verdict.reason): \(deviceFix(verdict, flatpak: flatpak, snap: snap))"))
            }
        }
        if refused.isEmpty { return .available(detail: granted.map(\.label).joined(separator: ", ")) }
        if !granted.isEmpty {
            let others = refused.map { "not \($0.node.label): \($0.reason)" }
            return .limited(scope: ([granted.map(\.label).joined(separator: ", ")] + others).joined(separator: "; "))
        }
        if refused.count == 1, let only = refused.first { return .unavailable(reason: only.reason) }
        return .unavailable(
            reason: "no \(kind) is accessible: "
                + refused.map { ($0.node.name.map { "\($0): " } ?? "") + $0.reason }.joined(separator: "; "))
    }

    /// The fix for a device node this process cannot open.
    func deviceFix(_ verdict: FileAccessVerdict, flatpak: String, snap: String) -> String {
        let seat = "log in on the local seat so logind's uaccess ACL applies"
        let sandboxed = sandboxHint(flatpak: flatpak, snap: snap)
        switch verdict.rule {
        case .unreachable:
            let fix = "the node is missing although the kernel lists the device: check that udev runs and created it"
            return sandboxed.map { "\(fix); \($0)" } ?? fix
        case .kernelDenied:
            return sandboxed ?? "allow the device in the AppArmor or SELinux policy that confines this process"
        case .other, .namedUser, .group, .owner, .superuser, .kernelGranted:
            guard let group = verdict.status?.group else { return seat }
            let name = POSIXCall.groupName(group)
            if verdict.groupWouldGrant, verdict.rule != .group {
                guard let name else { return "add the user to the group with gid \(group) or \(seat)" }
                return "add the user to group '\(name)' (usermod -aG \(name) \(userName)) or \(seat)"
            }
            return "give the node read and write access with a udev rule "
                + "(MODE=\"0660\", GROUP=\"\(name ?? String(group))\", TAG+=\"uaccess\") or \(seat)"
        }
    }
}
