using Sandbox.Files;

namespace Sandbox.Unit.Tests.Files;

public sealed class WorkspacePathTests
{
    [Theory]
    [InlineData("a.txt", "a.txt")]
    [InlineData("dir/sub/a.txt", "dir/sub/a.txt")]
    [InlineData("./dir//a.txt", "dir/a.txt")]
    [InlineData("dir/./a.txt", "dir/a.txt")]
    [InlineData("données/été.csv", "données/été.csv")]
    [InlineData("emoji/😀.txt", "emoji/😀.txt")]
    [InlineData("..hidden", "..hidden")]
    public void Accepts_and_normalizes_relative_paths(string input, string expected) =>
        Assert.Equal(expected, WorkspacePath.Normalize(input));

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("a/..")]
    [InlineData("a\0b")]
    [InlineData("a\u0001b")]
    [InlineData("a\u007Fb")]
    [InlineData("a\nb")]
    [InlineData("a\\b")]
    [InlineData("a\u202Eb.txt")]  // right-to-left override
    [InlineData("a\u200Bb")]      // zero-width space
    [InlineData("a\uFEFFb")]      // BOM
    [InlineData("a\u2028b")]      // line separator
    [InlineData("e\u0301.txt")]   // not NFC
    [InlineData("   ")]
    [InlineData("")]
    [InlineData(".")]
    public void Rejects_hostile_paths(string input)
    {
        var e = Assert.Throws<SandboxException>(() => WorkspacePath.Normalize(input));
        Assert.Equal(SandboxErrorCodes.InvalidPath, e.Code);
    }

    [Fact]
    public void Rejects_lone_surrogates()
    {
        // Built at run time: test discovery would turn a lone surrogate literal into U+FFFD.
        var path = "a" + (char)0xD800 + "b";
        Assert.Equal(SandboxErrorCodes.InvalidPath, Assert.Throws<SandboxException>(() => WorkspacePath.Normalize(path)).Code);
    }

    [Fact]
    public void Rejects_overlong_paths_and_segments()
    {
        Assert.Throws<SandboxException>(() => WorkspacePath.Normalize(new string('a', 256)));
        Assert.Throws<SandboxException>(() => WorkspacePath.Normalize(string.Join('/', Enumerable.Repeat("abcdefghij", 100))));
        Assert.Equal(new string('a', 255), WorkspacePath.Normalize(new string('a', 255)));
    }

    [Fact]
    public void Root_is_allowed_only_when_asked()
    {
        Assert.Equal("", WorkspacePath.Normalize("", allowRoot: true));
        Assert.Equal("", WorkspacePath.Normalize(".", allowRoot: true));
        Assert.Throws<SandboxException>(() => WorkspacePath.Normalize("/", allowRoot: true));
    }

    [Theory]
    [InlineData("/workspace/a", "b", "/workspace/a/b", true)]
    [InlineData("/workspace/a", "../b", "/workspace/b", true)]
    [InlineData("/workspace/a", "../../etc", "/etc", false)]
    [InlineData("/workspace", "/etc/passwd", "/etc/passwd", false)]
    [InlineData("/workspace", "/workspace/x", "/workspace/x", true)]
    [InlineData("/workspace", "../workspace2/x", "/workspace2/x", false)]
    [InlineData("/workspace/a", "../../../../", "/", false)]
    public void Symlink_targets_are_resolved_and_checked(string dir, string target, string resolved, bool inside)
    {
        var r = WorkspacePath.ResolveLink(dir, target);
        Assert.Equal(resolved, r);
        Assert.Equal(inside, WorkspacePath.IsInsideWorkspace(r));
    }
}
