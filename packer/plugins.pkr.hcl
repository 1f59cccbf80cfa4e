# The plugins app.pkr.hcl needs, for Packer 1.7 and later: bluegreen runs
# `packer init` on this file before `packer build` when the installed Packer
# has `init` (packer/README.md). A file of its own because Packer 1.6, whose
# amazon-ebs builder is built in, rejects a `required_plugins` block.
# Packer 1.10 and later no longer bundle the amazon plugin.
# https://developer.hashicorp.com/packer/docs/templates/hcl_templates/blocks/packer
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}
