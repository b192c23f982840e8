//! A plugin that targets `nsplug:netns@0.9.0`, which the host does not implement: loading it
//! must be refused with both versions named.

wit_bindgen::generate!({
    inline: r#"
        package nsplug:netns@0.9.0;

        interface types {
            enum op-class { read }
            record requirements { classes: list<op-class>, host-namespace: bool }
            record plugin-error { code: string, message: string }
        }

        interface handler {
            use types.{requirements, plugin-error};
            declare: func() -> requirements;
            handle: func(command: string, input: string) -> result<string, plugin-error>;
        }

        world plugin {
            export handler;
        }
    "#,
    world: "plugin",
});

use exports::nsplug::netns::handler::Guest;
use nsplug::netns::types::{PluginError, Requirements};

struct Future;

impl Guest for Future {
    fn declare() -> Requirements {
        Requirements {
            classes: Vec::new(),
            host_namespace: false,
        }
    }

    fn handle(_command: String, _input: String) -> Result<String, PluginError> {
        Ok(String::new())
    }
}

export!(Future);
