package api

import (
	"encoding/json"
	"net/http"

	"switchyard/internal/store"
)

// The OpenAI Conversations API: long-lived histories that responses run
// in, kept in the gateway's store and scoped to the caller's tenant.

// maxItemsPerCall is how many items one create or add call may carry, as
// the API allows.
const maxItemsPerCall = 20

// decodeItemsMember reads an items member of a conversation request.
func decodeItemsMember(o *jsonObject, required bool) []store.Item {
	var raws []json.RawMessage
	if !o.decode("items", &raws, "an array of items") {
		if required && o.err == nil {
			o.fail(invalidParam("items", "items: required"))
		}
		return nil
	}
	if len(raws) > maxItemsPerCall {
		o.fail(invalidParam("items", "items: at most %d items may be added at a time, got %d", maxItemsPerCall, len(raws)))
		return nil
	}
	if required && len(raws) == 0 {
		o.fail(invalidParam("items", "items: give at least one item"))
		return nil
	}
	items, err := decodeItems(raws, "items")
	o.fail(err)
	return items
}

func (s *Server) handleCreateConversation(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	o, err := readObject(body, "", "items", "metadata")
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	items := decodeItemsMember(o, false)
	md := decodeMetadata(o, "metadata")
	if o.err != nil {
		writeError(w, r, dialectOpenAI, o.err)
		return
	}
	c, err := rt.CreateConversation(r.Context(), p.Tenant.ID, md, items)
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, renderConversation(c))
}

func (s *Server) handleGetConversation(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	c, err := rt.Conversation(r.Context(), p.Tenant.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, renderConversation(c))
}

func (s *Server) handleUpdateConversation(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	o, err := readObject(body, "", "metadata")
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	if _, ok := o.m["metadata"]; !ok {
		writeError(w, r, dialectOpenAI, invalidParam("metadata", "metadata: required"))
		return
	}
	md := decodeMetadata(o, "metadata")
	if o.err != nil {
		writeError(w, r, dialectOpenAI, o.err)
		return
	}
	c, err := rt.UpdateConversation(r.Context(), p.Tenant.ID, r.PathValue("id"), md)
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, renderConversation(c))
}

func (s *Server) handleDeleteConversation(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	id := r.PathValue("id")
	if err := rt.DeleteConversation(r.Context(), p.Tenant.ID, id); err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, deleted{ID: id, Object: "conversation.deleted", Deleted: true})
}

func (s *Server) handleListConversationItems(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	page, err := listPage(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	encrypted, err := queryInclude(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	items, more, err := rt.ConversationItems(r.Context(), p.Tenant.ID, r.PathValue("id"), page)
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, "after"))
		return
	}
	writeJSON(w, http.StatusOK, renderItemList(items, more, encrypted))
}

func (s *Server) handleAddConversationItems(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	encrypted, err := queryInclude(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	o, err := readObject(body, "", "items")
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	items := decodeItemsMember(o, true)
	if o.err != nil {
		writeError(w, r, dialectOpenAI, o.err)
		return
	}
	added, err := rt.AddConversationItems(r.Context(), p.Tenant.ID, r.PathValue("id"), items)
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, renderItemList(added, false, encrypted))
}

func (s *Server) handleGetConversationItem(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	encrypted, err := queryInclude(r)
	if err != nil {
		writeError(w, r, dialectOpenAI, err)
		return
	}
	it, err := rt.ConversationItem(r.Context(), p.Tenant.ID, r.PathValue("id"), r.PathValue("item"))
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, wireItem{it: it, encrypted: encrypted})
}

func (s *Server) handleDeleteConversationItem(w http.ResponseWriter, r *http.Request) {
	p, rt := s.stateful(w, r)
	if rt == nil {
		return
	}
	c, err := rt.DeleteConversationItem(r.Context(), p.Tenant.ID, r.PathValue("id"), r.PathValue("item"))
	if err != nil {
		writeError(w, r, dialectOpenAI, sessionError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, renderConversation(c))
}
