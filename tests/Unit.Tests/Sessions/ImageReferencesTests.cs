using Sandbox.Sessions;

namespace Sandbox.Unit.Tests.Sessions;

public sealed class ImageReferencesTests
{
    [Theory]
    [InlineData("node:22", true)]
    [InlineData("python:3.12-slim", true)]
    [InlineData("registry.example.com:5000/team/tool:1.0", true)]
    [InlineData("ghcr.io/org/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("Node:22", false)]
    [InlineData("node:22; rm -rf /", false)]
    [InlineData("../node", false)]
    [InlineData("node:", false)]
    [InlineData("-node", false)]
    public void Only_reference_shapes_are_references(string reference, bool expected) => Assert.Equal(expected, ImageReferences.IsReference(reference));

    [Fact]
    public void Patterns_match_whole_references_with_star_for_anything()
    {
        string[] patterns = ["python:3.*", "node:22*", "registry.example.com/team/*"];
        Assert.True(ImageReferences.Matches("python:3.12", patterns));
        Assert.True(ImageReferences.Matches("node:22-bookworm", patterns));
        Assert.True(ImageReferences.Matches("registry.example.com/team/sub/tool:1", patterns));
        Assert.False(ImageReferences.Matches("python:2.7", patterns));
        Assert.False(ImageReferences.Matches("evil.example/python:3.12", patterns));
        Assert.False(ImageReferences.Matches("node:20", patterns));
        Assert.False(ImageReferences.Matches("node:22", []));
    }
}
