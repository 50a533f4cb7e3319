"""`vigil mcp`: Vigil's tools (app/tools.py) as an MCP server, over stdio (an agent starts it) or streamable HTTP,
each tool a call of a running Vigil's REST API. Uses the official `mcp` SDK, imported only here."""
import functools

import httpx

from app.config import McpConfig
from app.tools import Camera, ToolError, VigilTools, description


def build(tools: VigilTools):
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError as McpToolError
    from mcp.server.mcpserver.utilities.types import Image

    server = MCPServer("vigil", instructions="Cameras watched by Vigil: ask what they saw (now or hours ago), "
                       "search their clips, read their alerts, see a live frame, set watch rules in words. "
                       "Answers marked with a random-weights warning are noise from a test model.")
    for name in VigilTools.NAMES:
        fn = getattr(tools, name)
        if name == "live_frame":            # an image, not text
            def live_frame(camera: Camera) -> Image:
                return Image(data=tools.live_frame(camera), format="jpeg")
            live_frame.__doc__ = fn.__doc__
            fn = live_frame
        server.tool(name=name, description=description(fn))(said(fn, McpToolError))
    return server


def said(fn, error: type[Exception]):
    """`fn` with a refusal of the Vigil server (a 404, a 422) raised as the SDK's ToolError, whose message the agent
    is shown (any other exception reaches it as a bare "Error executing tool")."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ToolError, httpx.HTTPError) as e:
            raise error(str(e) or type(e).__name__) from None
    return call


def serve(config: McpConfig, auth: tuple[str, str] | None = None) -> None:
    tools = VigilTools(config.url, auth, config.timeout)
    try:
        server = build(tools)
        if config.transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=config.host, port=config.port)
    finally:
        tools.close()
