"""The live page: wiring only; what each event does is in `app.handlers`."""
import gradio as gr

from app.handlers import FIGURES_HELP, Handlers

CSS = ("#live img{image-rendering:pixelated} .vigil-timeline svg{width:100%;background:#fff;border-radius:6px}"
       # clip labels in the galleries wrap instead of being cut with an ellipsis (Gradio's caption is one line)
       " #memory .caption-label,#used .caption-label{white-space:normal;max-width:100%;overflow:visible;"
       "text-overflow:clip;overflow-wrap:anywhere;font-size:11px}"
       # alert text wraps inside the feed's column, however long its words
       " #feed{overflow-wrap:anywhere;max-width:100%;overflow-x:hidden} #feed .review-text{white-space:normal}")


def build(h: Handlers) -> gr.Blocks:
    with gr.Blocks(title="Vigil") as page:
        gr.Markdown(h.banner(), elem_id="banner")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                with gr.Tab("Demo"):
                    gr.Markdown("A 75-second real clip of a room (three visits), played as if live.")
                    demo_btn = gr.Button("Watch the demo clip", variant="primary", elem_id="demo")
                with gr.Tab("File"):
                    gr.Markdown(h.file_help(), elem_id="file-help")
                    path = gr.Textbox(label="Video file on the server", placeholder="demo-room.mp4")
                    upload = gr.File(label="or upload one", file_types=["video"], type="filepath")
                    file_name = gr.Textbox(label="Camera name (optional; letters, digits, '_', '.', '-')",
                                           placeholder="the file's name", elem_id="file-name")
                    file_btn = gr.Button("Watch the file", elem_id="start-file")
                with gr.Tab("Stream URL"):
                    url = gr.Textbox(label="rtsp:// or http(s):// URL, or a camera index on the server")
                    url_name = gr.Textbox(label="Camera name (optional; letters, digits, '_', '.', '-')",
                                          placeholder="the URL's host", elem_id="url-name")
                    url_btn = gr.Button("Watch the stream", elem_id="start-url")
                with gr.Tab("Webcam", elem_id="webcam-tab"):
                    gr.Markdown("Start recording: frames stream from this browser to the engine.")
                    webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam",
                                      elem_id="webcam")
                with gr.Accordion("Watch rules", open=False, elem_id="rules-box"):
                    rules = gr.Textbox(label="Watch rules, one a line", lines=2,
                                       placeholder="tell me when a person appears")
                    scene = gr.Checkbox(value=True, label="Alert on scene changes")
                    activity = gr.Checkbox(value=True, label="Alert on activity starts")
                    webhook = gr.Textbox(label="Webhook URL (optional): each alert is POSTed as JSON")
                    apply_btn = gr.Button("Apply the rules to the shown camera", elem_id="apply-rules", size="sm")
                status = gr.Markdown(elem_id="status")
            with gr.Column(scale=2):
                with gr.Row():
                    stream = gr.Dropdown(label="Camera", choices=[], interactive=True, elem_id="stream")
                    stop_btn = gr.Button("Stop", elem_id="stop")
                live = gr.Image(label="Now: token cells the drop kept are lit, dropped ones dimmed",
                                interactive=False, elem_id="live")
                figures = gr.Markdown(elem_id="figures")
                with gr.Accordion("What these figures mean", open=False, elem_id="figures-help"):
                    gr.Markdown(FIGURES_HELP)
                rules_view = gr.Markdown(elem_id="rules-view")
        timeline = gr.HTML(label="Timeline: tokens dropped per step, activity, scene changes",
                           elem_classes=["vigil-timeline"], elem_id="timeline-box")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Questions and answers", height=360, elem_id="chat")
                with gr.Row():
                    question = gr.Textbox(show_label=False, placeholder="Ask about what this camera has seen", scale=4,
                                          elem_id="question")
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                everywhere = gr.Checkbox(value=False, label="Ask all cameras (the clips most like the question, "
                                         "from any camera; no live view)", elem_id="all-cameras")
                used = gr.Gallery(label="Clips the last answer used", columns=8, height=140, elem_id="used", visible=False,
                                  preview=False, allow_preview=False, object_fit="contain", fit_columns=False)
            with gr.Column(scale=2):
                gr.Markdown("### Alerts\nGrouped per activity span, newest first.", elem_id="feed-title")
                feed = gr.HTML(elem_id="feed")
        with gr.Accordion("Recap: what happened in a span", open=False, elem_id="recap-box"):
            with gr.Row():
                recap_when = gr.Textbox(value=h.recap_default(), label='Span ("today", "since 8 am", "in the last 3 '
                                        'hours"; empty: all that is stored)', scale=4, elem_id="recap-when")
                recap_all = gr.Checkbox(value=True, label="All cameras", scale=1, elem_id="recap-all")
                recap_btn = gr.Button("Recap", scale=1, elem_id="recap-go")
            recap_view = gr.HTML(elem_id="recap")
        memory = gr.Gallery(label="Memory: newest clips first (pick one to ask about it)", columns=8, height=260,
                            elem_id="memory", preview=False, allow_preview=False, object_fit="contain",
                            fit_columns=False)
        timer = gr.Timer(h.config.refresh)
        alerts_json, status_json = gr.JSON(visible=False), gr.JSON(visible=False)

        alert_inputs = [rules, scene, activity, webhook]
        demo_btn.click(h.start_demo, alert_inputs, [status, stream, demo_btn], api_name="start_demo")
        file_btn.click(h.start_file, [path, upload, *alert_inputs, file_name], [status, stream], api_name="start_file")
        url_btn.click(h.start_url, [url, *alert_inputs, url_name], [status, stream], api_name="start_url")
        webcam.stream(h.webcam_frame, [webcam, *alert_inputs], None, stream_every=0.5, time_limit=None,
                      concurrency_limit=None, api_name="webcam_frame")
        stop_btn.click(h.stop, [stream], [status], api_name="stop")
        stream.change(h.select, [stream], [chat, used, memory], api_name=False)
        apply_btn.click(h.apply_rules, [rules], [status], api_name="apply_rules")
        ask_event = dict(fn=h.ask, inputs=[question, chat, stream, everywhere], outputs=[chat, used, question])
        ask_btn.click(**ask_event, api_name="ask")
        question.submit(**ask_event, api_name=False)
        recap_btn.click(h.recap, [recap_when, recap_all, stream], [recap_view], api_name="recap")
        memory.select(h.pick_clip, [stream], [status, question], api_name=False)
        timer.tick(h.refresh, [stream], [live, figures, timeline, feed, memory, stream, status, rules_view, demo_btn],
                   api_name=False,
                   show_progress="hidden", concurrency_limit=None)
        gr.Button(visible=False).click(h.alerts, [stream], alerts_json, api_name="alerts")
        gr.Button(visible=False).click(h.status, None, status_json, api_name="status")
        page.unload(h.unload)
    return page

